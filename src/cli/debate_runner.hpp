#pragma once

// Runs one debate end to end for the local CLI: persist it, run the engine, sign the
// receipt and store result + events + receipt in one transaction.

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agents/agent.hpp"
#include "common/blocking_pool.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "debate/engine.hpp"
#include "debate/receipt.hpp"
#include "debate/types.hpp"
#include "events/event.hpp"
#include "storage/store.hpp"

namespace aragora::cli {

struct RunOutcome {
    storage::DebateRecord record;
    std::optional<storage::ReceiptRecord> receipt;
    debate::DebateResult result;
};

class DebateRunner {
public:
    DebateRunner(const common::Clock& clock, debate::EngineSettings engine_settings,
                 storage::Store& store, common::BlockingPool& pool, const debate::ReceiptKeys& keys)
        : clock_(clock), engine_(clock, engine_settings), store_(store), pool_(pool), keys_(keys) {}

    // Runs the debate; `observer` (optional) sees every event as it happens.
    // Cancelling the awaiting coroutine cancels the debate, which is then stored as
    // `cancelled` with its events so far. Errors are storage failures only: a failed
    // or cancelled debate is a successful run with that status.
    boost::asio::awaitable<common::Result<RunOutcome>> Run(
        debate::DebateSpec spec, std::vector<std::shared_ptr<agents::Agent>> agents,
        events::EventSink* observer);

private:
    const common::Clock& clock_;
    debate::Engine engine_;
    storage::Store& store_;
    common::BlockingPool& pool_;
    const debate::ReceiptKeys& keys_;
};

}  // namespace aragora::cli
