#pragma once

// The key module's metrics, declared once on a registry (STYLE: up front, closed labels).
//   aragora_key_age_days{key_id}                      gauge: age of the sealing data key
//   aragora_key_rotations_total{trigger}              scheduled | manual
//   aragora_key_reencrypted_records_total{target}     values re-sealed (target = a
//                                                     registered ReEncryptTarget name)
//   aragora_key_rotation_failures_total{stage}        rotate | re_encrypt | expire
//   aragora_encryption_errors_total{reason}           malformed | tampered | unknown_key |
//                                                     expired_key (refused Open() calls)
// Thread-safe (the registry's series are).

#include <memory>
#include <string>

#include "metrics/registry.hpp"

namespace aragora::keys {

class KeyMetrics {
public:
    // Declares the families on `registry` (must outlive this); nullptr = a private
    // registry (the CLI).
    explicit KeyMetrics(metrics::Registry* registry = nullptr);

    metrics::Gauge& KeyAgeDays(const std::string& key_id) { return age_->WithLabels({key_id}); }
    metrics::Counter& Rotations(const std::string& trigger) {
        return rotations_->WithLabels({trigger});
    }
    metrics::Counter& ReEncrypted(const std::string& target) {
        return reencrypted_->WithLabels({target});
    }
    metrics::Counter& Failures(const std::string& stage) { return failures_->WithLabels({stage}); }
    metrics::Counter& Errors(const std::string& reason) { return errors_->WithLabels({reason}); }

private:
    std::unique_ptr<metrics::Registry> own_;
    metrics::Family<metrics::Gauge>* age_ = nullptr;
    metrics::Family<metrics::Counter>* rotations_ = nullptr;
    metrics::Family<metrics::Counter>* reencrypted_ = nullptr;
    metrics::Family<metrics::Counter>* failures_ = nullptr;
    metrics::Family<metrics::Counter>* errors_ = nullptr;
};

}  // namespace aragora::keys
