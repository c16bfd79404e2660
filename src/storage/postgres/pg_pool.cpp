#include "storage/postgres/pg_pool.hpp"

#include <poll.h>

#include <cassert>
#include <exception>
#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <string>
#include <utility>

#include "common/strings.hpp"

namespace aragora::storage {

using common::ErrorCode;
using common::MakeError;

struct PgPool::Slot {
    std::unique_ptr<pqxx::connection> conn;
    std::chrono::steady_clock::time_point born;
};

namespace {

std::string Trimmed(const char* text) {
    std::string s(common::Trim(text != nullptr ? text : ""));
    // libpq prefixes server messages with "ERROR:  "; the code already says it is one.
    for (std::string_view prefix : {"ERROR:  ", "FATAL:  "}) {
        if (s.rfind(prefix, 0) == 0) s.erase(0, prefix.size());
    }
    return s;
}

// An idle connection has nothing to read: readable means the server sent a FATAL message
// (pg_terminate_backend, restart) or closed the socket.
bool LooksAlive(pqxx::connection_base& conn) {
    if (!conn.is_open()) return false;
    const int fd = conn.sock();
    if (fd < 0) return false;
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
}

}  // namespace

common::Error PgCurrentError(std::string_view what, bool* broken) {
    const std::string where = "pg: " + std::string(what) + ": ";
    try {
        throw;
    } catch (const pqxx::broken_connection& e) {
        *broken = true;
        return MakeError(ErrorCode::kUnavailable,
                         "database unreachable: " + where + Trimmed(e.what()));
    } catch (const pqxx::sql_error& e) {
        const std::string& state = e.sqlstate();
        if (state == "23505") return MakeError(ErrorCode::kConflict, where + Trimmed(e.what()));
        if (state == "57014") return MakeError(ErrorCode::kTimeout, where + Trimmed(e.what()));
        // Class 08 (connection exception) and 57P01..03 (shutdown, crash, cannot connect).
        if (state.rfind("08", 0) == 0 || state.rfind("57P0", 0) == 0) {
            *broken = true;
            return MakeError(ErrorCode::kUnavailable,
                             "database unreachable: " + where + Trimmed(e.what()));
        }
        // Class 53 (disk full, out of memory, too many connections) and 58030 (I/O error):
        // the server, not the statement; the same write may succeed later.
        if (state.rfind("53", 0) == 0 || state == "58030") {
            return MakeError(ErrorCode::kUnavailable,
                             "storage unavailable: " + where + Trimmed(e.what()));
        }
        return MakeError(ErrorCode::kStorage, where + Trimmed(e.what()));
    } catch (const pqxx::in_doubt_error& e) {
        *broken = true;
        return MakeError(
            ErrorCode::kStorage,
            where + "connection lost during commit; outcome unknown: " + Trimmed(e.what()));
    } catch (const std::exception& e) {
        return MakeError(ErrorCode::kStorage, where + Trimmed(e.what()));
    } catch (...) {
        return MakeError(ErrorCode::kInternal, where + "non-standard exception");
    }
}

// --- Lease

PgPool::Lease::Lease(PgPool* pool, std::unique_ptr<Slot> slot)
    : pool_(pool), slot_(std::move(slot)) {}

PgPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      slot_(std::move(other.slot_)),
      broken_(other.broken_),
      discard_(other.discard_) {}

PgPool::Lease::~Lease() {
    if (pool_ != nullptr && slot_) pool_->Release(std::move(slot_), broken_, discard_);
}

pqxx::connection_base& PgPool::Lease::conn() { return *slot_->conn; }

void PgPool::Lease::MarkBroken() { broken_ = true; }

void PgPool::Lease::Discard() { discard_ = true; }

// --- PgPool

PgPool::PgPool(PgPoolOptions options, const common::Clock* clock)
    : options_(std::move(options)), clock_(clock != nullptr ? clock : &system_clock_) {}

PgPool::~PgPool() {
    std::lock_guard lock(mu_);
    assert(stats_.in_use == 0 && "a PgPool::Lease outlived its pool");
    idle_.clear();
}

common::Result<std::shared_ptr<PgPool>> PgPool::Create(PgPoolOptions options,
                                                       const common::Clock* clock) {
    if (options.dsn.empty())
        return MakeError(ErrorCode::kValidation, "PostgreSQL dsn is empty", "dsn");
    if (options.pool_size < 1)
        return MakeError(ErrorCode::kValidation, "pool_size must be >= 1", "pool_size");
    if (options.max_overflow < 0)
        return MakeError(ErrorCode::kValidation, "max_overflow must be >= 0", "max_overflow");
    if (options.acquire_timeout.count() < 0 || options.command_timeout.count() < 0 ||
        options.recycle.count() < 0) {
        return MakeError(ErrorCode::kValidation, "pool timeouts must be >= 0");
    }
    return std::shared_ptr<PgPool>(new PgPool(std::move(options), clock));
}

bool PgPool::TooOld(const Slot& slot) const {
    return options_.recycle.count() > 0 && clock_->SteadyNow() - slot.born >= options_.recycle;
}

common::Result<std::unique_ptr<PgPool::Slot>> PgPool::Connect() {
    try {
        auto slot = std::make_unique<Slot>();
        slot->conn = std::make_unique<pqxx::connection>(options_.dsn);
        // A silent reconnect would drop session settings (statement_timeout) and hide the
        // failure from the pool, which replaces broken connections itself.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        slot->conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
        if (options_.command_timeout.count() > 0) {
            pqxx::nontransaction tx(*slot->conn);
            tx.exec("SET statement_timeout = " + std::to_string(options_.command_timeout.count()));
        }
        slot->born = clock_->SteadyNow();
        return slot;
    } catch (const std::exception& e) {
        return MakeError(ErrorCode::kUnavailable, "database unreachable: " + Trimmed(e.what()));
    }
}

common::Result<PgPool::Lease> PgPool::Acquire() {
    const auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
    const int max_open = options_.pool_size + options_.max_overflow;
    std::vector<std::unique_ptr<Slot>> to_close;  // destroyed after the lock is released
    std::unique_lock lock(mu_);
    while (true) {
        while (!idle_.empty()) {
            std::unique_ptr<Slot> slot = std::move(idle_.back());
            idle_.pop_back();
            if (TooOld(*slot)) {
                --open_;
                ++stats_.recycled_total;
                to_close.push_back(std::move(slot));
                continue;
            }
            if (!LooksAlive(*slot->conn)) {
                --open_;
                ++stats_.broken_replaced_total;
                to_close.push_back(std::move(slot));
                continue;
            }
            ++stats_.in_use;
            lock.unlock();
            to_close.clear();
            return Lease(this, std::move(slot));
        }
        if (open_ < max_open) {
            ++open_;
            ++stats_.in_use;
            lock.unlock();
            to_close.clear();
            auto slot = Connect();
            lock.lock();
            if (!slot) {
                --open_;
                --stats_.in_use;
                ++stats_.connect_failures_total;
                lock.unlock();
                released_.notify_one();
                return slot.error();
            }
            ++stats_.opened_total;
            lock.unlock();
            return Lease(this, std::move(*slot));
        }
        if (released_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
            open_ >= max_open) {
            ++stats_.exhausted_total;
            return MakeError(ErrorCode::kUnavailable,
                             "database pool exhausted (" + std::to_string(max_open) +
                                 " connections in use; waited " +
                                 std::to_string(options_.acquire_timeout.count()) + " ms)");
        }
    }
}

void PgPool::Release(std::unique_ptr<Slot> slot, bool broken, bool discard) {
    std::unique_ptr<Slot> to_close;  // destroyed after the lock is released
    {
        std::lock_guard lock(mu_);
        --stats_.in_use;
        const bool open = slot->conn->is_open();
        if (broken || discard || !open) {
            --open_;
            if (broken || !open) ++stats_.broken_replaced_total;
            to_close = std::move(slot);
        } else if (TooOld(*slot)) {
            --open_;
            ++stats_.recycled_total;
            to_close = std::move(slot);
        } else if (static_cast<int>(idle_.size()) >= options_.pool_size) {
            --open_;  // an overflow connection
            to_close = std::move(slot);
        } else {
            idle_.push_back(std::move(slot));
        }
    }
    released_.notify_one();
}

common::Status PgPool::Run(std::string_view what,
                           const std::function<common::Status(pqxx::connection_base&)>& fn) {
    auto lease = Acquire();
    if (!lease) return lease.error();
    try {
        return fn(lease->conn());
    } catch (...) {
        bool broken = false;
        common::Error error = PgCurrentError(what, &broken);
        if (broken || !lease->conn().is_open()) lease->MarkBroken();
        return error;
    }
}

PgPoolStats PgPool::Stats() const {
    std::lock_guard lock(mu_);
    PgPoolStats out = stats_;
    out.idle = static_cast<int>(idle_.size());
    return out;
}

}  // namespace aragora::storage
