#pragma once

// The debate service: what the API (and later workers) ask of debates. Handlers call this
// interface and never touch SQL or agents. The implementation (LocalDebateService) runs
// debates in this process under a concurrency cap with a bounded pending queue.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agents/registry.hpp"
#include "common/result.hpp"
#include "debate/types.hpp"
#include "events/event.hpp"
#include "storage/store.hpp"

namespace aragora::service {

// A validated request to start a debate (the API parsed and checked every field).
struct CreateDebateRequest {
    std::string task;
    std::string context;
    std::vector<agents::AgentSpec> agents;  // resolved specs, >= 2, unique names
    int rounds = debate::kDefaultRounds;
    debate::ConsensusMethod consensus = debate::ConsensusMethod::kMajority;
    std::optional<double> consensus_threshold;  // nullopt = configured default
    std::string metadata_json = "{}";
    std::string correlation_id;  // of the request that created it: in every debate log line
    std::string created_by;      // auth::Principal::ActorId() ("" in the open mode)
    std::string org_id;
    trace::Context trace;  // the creating request's span: the debate's spans are its children
};

struct EventsPage {
    std::vector<events::Event> events;
    std::int64_t next_seq = 0;
    bool has_more = false;
};

struct ServiceStats {
    std::size_t running = 0;
    std::size_t queued = 0;
    std::size_t max_running = 0;
    std::size_t max_queued = 0;
};

class DebateService {
public:
    virtual ~DebateService() = default;

    // Persists the debate as `pending`, then starts it (under the cap) or queues it.
    // Errors: kOverloaded (queue full; the API answers 503 + Retry-After), kUnavailable
    // (draining), kValidation (agents), kStorage.
    virtual boost::asio::awaitable<common::Result<storage::DebateRecord>> Create(
        CreateDebateRequest request) = 0;

    // Cancels a pending or running debate. Effective before it returns: the stored status
    // is `cancelled` and `debate_end` was published. kNotFound; kConflict when terminal.
    virtual boost::asio::awaitable<common::Result<storage::DebateRecord>> Cancel(
        const std::string& id) = 0;

    virtual boost::asio::awaitable<common::Result<storage::DebateRecord>> Get(
        const std::string& id) = 0;
    virtual boost::asio::awaitable<common::Result<storage::DebatePage>> List(
        storage::DebateFilter filter) = 0;

    // Events with seq > since, ascending, at most `limit` (stored and live ones). kNotFound.
    virtual boost::asio::awaitable<common::Result<EventsPage>> Events(const std::string& id,
                                                                      std::int64_t since,
                                                                      int limit) = 0;

    // Receipts. `id`: receipt id, "debate-<debate id>" or a debate id. kNotFound.
    virtual boost::asio::awaitable<common::Result<storage::ReceiptRecord>> Receipt(
        const std::string& id) = 0;
    virtual boost::asio::awaitable<common::Result<storage::ReceiptPage>> Receipts(
        const std::string& debate_id, int limit, int offset) = 0;

    virtual ServiceStats Stats() const = 0;
};

}  // namespace aragora::service
