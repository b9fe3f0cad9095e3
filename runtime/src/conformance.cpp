// The conformance suite's runner: one case at a time through the backend's ABI, compared
// with the reference on the host (see conformance.hpp for the steps and the bounds).
#include "llamux/conformance.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>

#include "conformance_internal.hpp"
#include "llamux/error.hpp"
#include "llamux/ir.hpp"
#include "llamux/log.hpp"
#include "llamux/ops_ref.hpp"

namespace llamux {

size_t ConformanceReport::count(CaseStatus status) const {
    size_t n = 0;
    for (const auto& r : results) n += r.status == status;
    return n;
}

std::vector<std::string> conformance_ops() {
    std::vector<std::string> ops;
    for (int op = LMX_OP_NONE + 1; op < LMX_OP_COUNT; ++op) {
        ops.emplace_back(op_name(static_cast<lmx_op>(op)));
    }
    return ops;
}

namespace {

using conformance::AlignedBytes;
using conformance::Case;
using conformance::CaseTensor;

constexpr size_t kOffsetAlignment = 256;  // as the scheduler aligns activations

// A case's tensors as the backend holds them: the same descriptors with backend memory.
// Frees what it made (weights released, buffer freed) when destroyed.
class DeviceCase {
public:
    DeviceCase(Backend& backend, const Case& c) : backend_(backend), case_(c) {
        std::map<const lmx_tensor*, lmx_tensor*> map;
        for (const CaseTensor& ct : c.tensors) {
            lmx_tensor& d = tensors_.emplace_back(ct.t);
            d.data = nullptr;  // supports_node sees no memory, as in the scheduler
            d.extra = nullptr;
            map[&ct.t] = &d;
        }
        node_ = c.node;
        for (auto& src : node_.src) {
            if (src) src = map.at(src);
        }
        node_.dst = map.at(c.node.dst);
    }
    ~DeviceCase() {
        for (lmx_tensor* w : prepared_) backend_.release_weight(*w);
    }
    DeviceCase(const DeviceCase&) = delete;
    DeviceCase& operator=(const DeviceCase&) = delete;

    const lmx_node& node() const { return node_; }

    // Prepares the weights from the case's host bytes and places every other tensor in one
    // buffer of the backend.
    void bind() {
        std::vector<size_t> offsets;
        size_t total = 0;
        auto ct = case_.tensors.begin();
        for (lmx_tensor& d : tensors_) {
            if (d.role == LMX_ROLE_WEIGHT) {
                backend_.prepare_weight(d, ct->bytes.data());
                prepared_.push_back(&d);
                offsets.push_back(0);
            } else {
                total = (total + kOffsetAlignment - 1) / kOffsetAlignment * kOffsetAlignment;
                offsets.push_back(total);
                total += ct->size();
            }
            ++ct;
        }
        if (total > 0) buffer_ = backend_.allocate(total);
        size_t i = 0;
        for (lmx_tensor& d : tensors_) {
            if (d.role != LMX_ROLE_WEIGHT) d.data = buffer_.base() + offsets[i];
            ++i;
        }
    }

    // Writes every non-weight tensor's initial contents; a fresh output gets NaN bytes.
    void upload() {
        auto ct = case_.tensors.begin();
        for (lmx_tensor& d : tensors_) {
            if (d.role != LMX_ROLE_WEIGHT) {
                if (ct->is_dst && d.role != LMX_ROLE_KV_CACHE) {
                    if (poison_.size() < ct->size()) {
                        poison_ = AlignedBytes(ct->size());
                        std::memset(poison_.data(), 0xFF, poison_.size());
                    }
                    backend_.write(d, poison_.data(), 0, ct->size());
                } else {
                    backend_.write(d, ct->initial.data(), 0, ct->size());
                }
            }
            ++ct;
        }
    }

    // The output's elements as floats.
    std::vector<float> download() {
        const CaseTensor* dst = nullptr;
        for (const CaseTensor& ct : case_.tensors) {
            if (ct.is_dst) dst = &ct;
        }
        AlignedBytes bytes(dst->size());
        backend_.read(*node_.dst, bytes.data(), 0, bytes.size());
        lmx_tensor host = dst->t;
        host.data = bytes.data();
        return conformance::to_floats(host);
    }

private:
    Backend& backend_;
    const Case& case_;
    std::deque<lmx_tensor> tensors_;  // in the order of case_.tensors
    lmx_node node_{};
    std::vector<lmx_tensor*> prepared_;
    BackendBuffer buffer_;
    AlignedBytes poison_;
};

std::string coords(const lmx_tensor& t, size_t index) {
    int dims = LMX_MAX_DIMS;
    while (dims > 1 && t.ne[dims - 1] == 1) --dims;
    std::string s = "[";
    auto rest = static_cast<int64_t>(index);
    for (int k = 0; k < dims; ++k) {
        s += (k ? "," : "") + std::to_string(rest % t.ne[k]);
        rest /= t.ne[k];
    }
    return s + "]";
}

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

// Fills status, error, bound and message of r from the element-wise comparison.
void compare(const std::vector<float>& got, const std::vector<float>& want,
             const std::vector<double>& bound, const lmx_tensor& dst, ConformanceResult& r) {
    size_t worst = 0, n_bad = 0;
    double worst_ratio = -1.0;
    for (size_t i = 0; i < want.size(); ++i) {
        double err = std::fabs(double(got[i]) - double(want[i]));
        if (std::isnan(err)) err = INFINITY;
        const bool ok = err <= bound[i];
        const double ratio = bound[i] > 0 ? err / bound[i] : (err > 0 ? INFINITY : 0.0);
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            worst = i;
        }
        n_bad += !ok;
    }
    r.error = std::fabs(double(got[worst]) - double(want[worst]));
    if (std::isnan(r.error)) r.error = INFINITY;
    r.bound = bound[worst];
    r.status = n_bad ? CaseStatus::failed : CaseStatus::passed;
    if (n_bad) {
        r.message = std::to_string(n_bad) + " of " + std::to_string(want.size()) +
                    " elements out of bound; worst " + coords(dst, worst) + ": got " +
                    number(got[worst]) + ", expected " + number(want[worst]) + ", error " +
                    number(r.error) + " > bound " + number(r.bound);
    }
}

void run_case(Backend& backend, Case& c, ConformanceReport& report,
              const std::function<void(const ConformanceResult&)>& on_result) {
    auto result = [&](int32_t n_past) {
        ConformanceResult r;
        r.op = std::string(op_name(c.op));
        r.dtypes = c.dtypes;
        r.shape = c.shape + (c.n_pasts.size() > 1 ? " past=" + std::to_string(n_past) : "");
        return r;
    };
    auto emit = [&](ConformanceResult r) {
        logger("conformance")->debug("{} {} {}: {}{}", r.op, r.dtypes, r.shape,
                                     r.status == CaseStatus::passed   ? "ok"
                                     : r.status == CaseStatus::failed ? "FAILED "
                                                                      : "declined",
                                     r.message);
        if (on_result) on_result(r);
        report.results.push_back(std::move(r));
    };

    size_t done = 0;
    try {
        DeviceCase device(backend, c);
        if (!backend.supports(device.node())) {
            for (int32_t n_past : c.n_pasts) emit(result(n_past));
            return;
        }
        const std::string what = "conformance case " + std::string(op_name(c.op)) + " " + c.dtypes +
                                 " " + c.shape;
        device.bind();
        BackendProgram program = backend.compile(&device.node(), 1, what);
        for (int32_t n_past : c.n_pasts) {
            ConformanceResult r = result(n_past);
            lmx_exec_args args{};
            args.struct_size = sizeof(args);
            args.n_past = n_past;
            for (CaseTensor& ct : c.tensors) {
                if (ct.t.role != LMX_ROLE_WEIGHT) ct.restore();
            }
            std::string why;
            if (run_node_ref(c.node, args, &why) != LMX_OK) {
                r.status = CaseStatus::failed;
                r.message = "the reference rejects this case (a bug in the suite): " + why;
                emit(std::move(r));
                ++done;
                continue;
            }
            const std::vector<float> expected = conformance::to_floats(*c.node.dst);
            const std::vector<double> bounds = conformance::element_bounds(c.node, args, expected);
            device.upload();
            backend.execute(program, args, what);
            backend.synchronize();
            compare(device.download(), expected, bounds, *c.node.dst, r);
            emit(std::move(r));
            ++done;
        }
    } catch (const std::exception& e) {
        // A backend call failed (Backend turns its status into an Error naming the call).
        for (size_t i = done; i < c.n_pasts.size(); ++i) {
            ConformanceResult r = result(c.n_pasts[i]);
            r.status = CaseStatus::failed;
            r.message = e.what();
            emit(std::move(r));
        }
    }
}

}  // namespace

ConformanceReport run_conformance(Backend& backend, const ConformanceOptions& options,
                                  const std::function<void(const ConformanceResult&)>& on_result) {
    lmx_op only = LMX_OP_NONE;
    if (!options.op.empty()) {
        std::string known;
        for (int op = LMX_OP_NONE + 1; op < LMX_OP_COUNT; ++op) {
            const std::string name(op_name(static_cast<lmx_op>(op)));
            if (name == options.op) only = static_cast<lmx_op>(op);
            known += (known.empty() ? "" : ", ") + name;
        }
        if (only == LMX_OP_NONE) {
            throw Error("--op " + options.op + ": expected one of " + known);
        }
    }
    std::deque<Case> cases = conformance::make_cases(only, options.seed);
    ConformanceReport report;
    for (Case& c : cases) run_case(backend, c, report, on_result);
    return report;
}

}  // namespace llamux
