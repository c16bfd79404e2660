#include "keys/key_metrics.hpp"

namespace aragora::keys {

KeyMetrics::KeyMetrics(metrics::Registry* registry) {
    if (registry == nullptr) {
        own_ = std::make_unique<metrics::Registry>();
        registry = own_.get();
    }
    age_ = &registry->AddGauge("aragora_key_age_days",
                               "Age in days of the data key that seals new values", {"key_id"});
    rotations_ = &registry->AddCounter("aragora_key_rotations_total",
                                       "Encryption data key rotations", {"trigger"});
    reencrypted_ = &registry->AddCounter("aragora_key_reencrypted_records_total",
                                         "Values re-sealed under the current data key", {"target"});
    failures_ = &registry->AddCounter("aragora_key_rotation_failures_total",
                                      "Failed key rotation steps", {"stage"});
    errors_ = &registry->AddCounter("aragora_encryption_errors_total",
                                    "Encrypted values that could not be opened", {"reason"});
    for (const char* stage : {"rotate", "re_encrypt", "expire"}) Failures(stage);
    for (const char* reason : {"malformed", "tampered", "unknown_key", "expired_key"}) {
        Errors(reason);
    }
}

}  // namespace aragora::keys
