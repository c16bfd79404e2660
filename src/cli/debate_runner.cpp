#include "cli/debate_runner.hpp"

#include <boost/asio/this_coro.hpp>

#include "common/time.hpp"
#include "service/records.hpp"

namespace aragora::cli {

boost::asio::awaitable<common::Result<RunOutcome>> DebateRunner::Run(
    debate::DebateSpec spec, std::vector<std::shared_ptr<agents::Agent>> agents,
    events::EventSink* observer) {
    service::run::RunInit init;
    init.created_at = common::FormatIso8601(clock_.SystemNow());
    storage::DebateRecord pending =
        service::run::PendingRecord(spec, init.created_at, service::SpecToJson(spec));
    auto created = co_await pool_.Run([&] { return common::ToUnit(store_.CreateDebate(pending)); });
    if (!created) co_return created.error();

    service::run::RunEnvironment env;
    env.clock = &clock_;
    env.store = &store_;
    env.pool = &pool_;
    env.keys = &keys_;
    env.engine = &engine_;
    env.publish = observer;
    init.spec = std::move(spec);
    init.agents = std::move(agents);
    run_ = service::run::DebateRun::Create(co_await boost::asio::this_coro::executor, env,
                                           std::move(init));
    if (cancelled_) run_->Stop(service::run::StopReason::kCancel);
    service::run::RunOutcome ended = co_await run_->RunToEnd();
    if (ended.kind != service::run::RunOutcome::Kind::kStored) co_return ended.error;
    RunOutcome out;
    out.record = std::move(ended.record);
    out.receipt = std::move(ended.receipt);
    out.result = std::move(ended.result);
    co_return out;
}

void DebateRunner::Cancel() {
    cancelled_ = true;
    if (run_) run_->Stop(service::run::StopReason::kCancel);
}

}  // namespace aragora::cli
