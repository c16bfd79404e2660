#pragma once

// Runs one debate end to end for the local CLI (`aragora ask`/`demo`) with the server's
// own service::run::DebateRun: the pending row, then the run (group-committed events,
// one final transaction with result, remaining events and signed receipt).

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
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
#include "service/run/debate_run.hpp"
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

    // Runs the debate; `observer` (optional) sees every event once stored. Cancel() stops
    // it: it is then stored as `cancelled` with its events so far. Errors are storage
    // failures only: a failed or cancelled debate is a successful run with that status.
    boost::asio::awaitable<common::Result<RunOutcome>> Run(
        debate::DebateSpec spec, std::vector<std::shared_ptr<agents::Agent>> agents,
        events::EventSink* observer);

    // Stops the debate Run() runs (or will run). Call on the thread that runs Run().
    void Cancel();

private:
    const common::Clock& clock_;
    debate::Engine engine_;
    storage::Store& store_;
    common::BlockingPool& pool_;
    const debate::ReceiptKeys& keys_;
    std::shared_ptr<service::run::DebateRun> run_;
    bool cancelled_ = false;
};

}  // namespace aragora::cli
