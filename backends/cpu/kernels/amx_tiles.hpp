// Internal to the AMX kernel files: the tile configuration ldtilecfg takes.
#pragma once

#include <cstdint>

#if !defined(__AMX_TILE__)
#error "amx_tiles.hpp: compile with -mamx-tile"
#endif

namespace llamux::cpu::amx {

// Palette 1: for tile t, rows[t] rows of colsb[t] bytes.
struct alignas(64) TileConfig {
    uint8_t palette_id = 1;
    uint8_t start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};

// Not _tile_loadconfig: GCC 12's tells the compiler it reads only 8 bytes of cfg, which
// lets it drop the stores that filled it.
inline void load_config(const TileConfig& cfg) { __asm__ volatile("ldtilecfg %0" : : "m"(cfg)); }

}  // namespace llamux::cpu::amx
