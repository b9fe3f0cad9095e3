// A shared library that is not a llamux plugin: it lacks the entry point.
extern "C" __attribute__((visibility("default"))) int not_a_backend() { return 42; }
