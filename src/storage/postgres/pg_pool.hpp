#pragma once

// A bounded pool of libpqxx connections to one PostgreSQL database. Every call blocks
// (callers on I/O threads go through common::BlockingPool) and every wait has a deadline;
// the pool is thread-safe. No pqxx type escapes as an exception: Run() maps them to
// errors.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"

namespace pqxx {
class connection_base;
}  // namespace pqxx

namespace aragora::storage {

struct PgPoolOptions {
    // A libpq connection string or postgresql:// URL, as BuildPgDsn() returns it (a
    // connect_timeout of 5 s is added when it sets none).
    std::string dsn;
    int pool_size = 20;     // connections kept open when idle
    int max_overflow = 15;  // extra connections opened under load, closed on release
    // Longest wait for a connection when pool_size + max_overflow are in use.
    std::chrono::milliseconds acquire_timeout{5000};
    // Applied to every connection as statement_timeout (0 = none).
    std::chrono::milliseconds command_timeout{60000};
    // Connections older than this are closed and replaced (on release and on acquire).
    std::chrono::seconds recycle{1800};
};

// Counters for the app's metrics. Totals only grow.
struct PgPoolStats {
    int in_use = 0;  // leased, or being opened for a lease
    int idle = 0;
    std::int64_t opened_total = 0;
    std::int64_t exhausted_total = 0;        // acquisitions that gave up after acquire_timeout
    std::int64_t broken_replaced_total = 0;  // broken connections dropped (and so replaced)
    std::int64_t recycled_total = 0;         // closed because older than `recycle`
    std::int64_t connect_failures_total = 0;
};

class PgPool {
public:
    struct Slot;  // one connection and its birth time (pg_pool.cpp)

    // A leased connection, returned to the pool when destroyed. Must not outlive the pool.
    class Lease {
    public:
        Lease(Lease&& other) noexcept;
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease();

        pqxx::connection_base& conn();
        // The connection is closed instead of returned, counted as broken (and replaced by
        // the next acquisition).
        void MarkBroken();
        // The connection is closed instead of returned (session state must not leak, e.g.
        // a session advisory lock); not counted as broken.
        void Discard();

    private:
        friend class PgPool;
        Lease(PgPool* pool, std::unique_ptr<Slot> slot);
        PgPool* pool_ = nullptr;
        std::unique_ptr<Slot> slot_;
        bool broken_ = false;
        bool discard_ = false;
    };

    // Validates the options (non-empty dsn, pool_size >= 1, max_overflow >= 0, timeouts
    // >= 0); kValidation otherwise. Connects lazily: nothing is opened here. `clock`
    // (default: the system clock) only measures connection ages for `recycle`; it must
    // outlive the pool.
    static common::Result<std::shared_ptr<PgPool>> Create(PgPoolOptions options,
                                                          const common::Clock* clock = nullptr);

    ~PgPool();
    PgPool(const PgPool&) = delete;
    PgPool& operator=(const PgPool&) = delete;

    // An idle connection (checked alive first), or a new one while fewer than pool_size +
    // max_overflow exist, or the first one released within acquire_timeout. Exhausted ⇒
    // kUnavailable "database pool exhausted (...)" and exhausted_total + 1. A failed connect
    // ⇒ kUnavailable "database unreachable: ...".
    common::Result<Lease> Acquire();

    // Acquires, runs `fn` and releases. A pqxx exception thrown by `fn` becomes an error:
    // unique violation ⇒ kConflict, statement timeout / cancel ⇒ kTimeout, lost connection
    // ⇒ kUnavailable "database unreachable: ..." (the connection is dropped and replaced),
    // disk full / out of resources (SQLSTATE class 53) or I/O error (58030) ⇒ kUnavailable
    // "storage unavailable: ...", anything else ⇒ kStorage "pg: <what>: <server message>". An error
    // `fn` returns is passed through as is.
    common::Status Run(std::string_view what,
                       const std::function<common::Status(pqxx::connection_base&)>& fn);

    PgPoolStats Stats() const;
    const PgPoolOptions& options() const { return options_; }

private:
    PgPool(PgPoolOptions options, const common::Clock* clock);
    void Release(std::unique_ptr<Slot> slot, bool broken, bool discard);
    common::Result<std::unique_ptr<Slot>> Connect();
    bool TooOld(const Slot& slot) const;

    const PgPoolOptions options_;
    const common::Clock* clock_;
    common::SystemClock system_clock_;

    mutable std::mutex mu_;
    std::condition_variable released_;
    std::vector<std::unique_ptr<Slot>> idle_;  // most recently used at the back
    int open_ = 0;                             // idle + leased + being opened
    PgPoolStats stats_;
};

// Maps the exception being handled (call inside a catch block) to an error as Run() does;
// sets `*broken` when the connection is unusable afterwards.
common::Error PgCurrentError(std::string_view what, bool* broken);

}  // namespace aragora::storage
