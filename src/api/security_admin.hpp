#pragma once

// What the /api/v1/admin/security routes (api/security_admin.cpp) reach: the keyring and
// the rotation driver of encryption at rest (keys/), filled by app/ before the server
// starts, except keyring/rotator, set (atomically) by the startup sequence once the keys are
// loaded. `keyring` null = encryption at rest is off or not loaded yet (the routes say so
// with `unavailable_reason`; rotate-key answers 503). Store and target work runs on `pool`,
// never on an I/O thread.

#include <atomic>
#include <chrono>
#include <string>

#include "common/blocking_pool.hpp"
#include "common/clock.hpp"
#include "keys/keyring.hpp"
#include "keys/rotation.hpp"

namespace aragora::api {

struct SecurityAdminAccess {
    std::atomic<keys::Keyring*> keyring{nullptr};
    std::atomic<keys::Rotator*> rotator{nullptr};
    common::BlockingPool* pool = nullptr;
    const common::Clock* clock = nullptr;
    bool encryption_required = false;
    bool scheduler_enabled = false;
    std::string unavailable_reason =
        "encryption at rest is off (ARAGORA_ENCRYPTION_KEY is not set)";
    // POST rotate-key runs re-encryption batches this long before answering; the scheduler
    // finishes the rest (re_encryption: "in_progress").
    std::chrono::milliseconds rotate_wait{10000};
};

}  // namespace aragora::api
