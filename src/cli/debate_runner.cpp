#include "cli/debate_runner.hpp"

#include <boost/asio/this_coro.hpp>
#include <mutex>

#include "common/ids.hpp"
#include "common/time.hpp"
#include "debate/emitter.hpp"
#include "service/records.hpp"

namespace aragora::cli {
namespace {

// Keeps every event (for the one final transaction) and forwards it to an observer.
class CollectingSink final : public events::EventSink {
public:
    explicit CollectingSink(events::EventSink* observer) : observer_(observer) {}
    void Publish(const events::Event& e) override {
        {
            std::lock_guard lock(mutex_);
            events_.push_back(e);
        }
        if (observer_) observer_->Publish(e);
    }
    std::vector<events::Event> Take() {
        std::lock_guard lock(mutex_);
        return std::move(events_);
    }

private:
    events::EventSink* observer_;
    std::mutex mutex_;
    std::vector<events::Event> events_;
};

}  // namespace

boost::asio::awaitable<common::Result<RunOutcome>> DebateRunner::Run(
    debate::DebateSpec spec, std::vector<std::shared_ptr<agents::Agent>> agents,
    events::EventSink* observer) {
    co_await boost::asio::this_coro::throw_if_cancelled(false);
    std::string created_at = common::FormatIso8601(clock_.SystemNow());

    storage::DebateRecord pending;
    pending.id = spec.id;
    pending.task = spec.task;
    pending.status = events::DebateStatus::kPending;
    pending.agents = spec.agents;
    pending.rounds = spec.rounds;
    pending.consensus_method = std::string(debate::ToString(spec.consensus));
    pending.created_at = created_at;
    pending.spec_json = service::SpecToJson(spec);
    auto created = co_await pool_.Run([&]() -> common::Result<common::Unit> {
        auto s = store_.CreateDebate(pending);
        if (!s) return s.error();
        s = store_.UpdateDebateStatus(pending.id, events::DebateStatus::kRunning,
                                      common::FormatIso8601(clock_.SystemNow()));
        if (!s) return s.error();
        return common::Unit{};
    });
    if (!created) co_return created.error();

    CollectingSink sink(observer);
    debate::EventEmitter emitter(spec.id, clock_, sink);
    debate::DebateResult result = co_await engine_.Run(spec, std::move(agents), emitter);

    std::string receipt_id;
    if (result.status == debate::DebateStatus::kCompleted) receipt_id = common::NewId("rcpt_");
    storage::DebateRecord record = service::ToRecord(spec, result, created_at, receipt_id);

    emitter.Emit(result.rounds_used, "", service::DebateEndOf(record, result.duration_seconds));

    std::vector<events::Event> events = sink.Take();
    storage::ReceiptBuilder builder =
        service::MakeReceiptBuilder(spec, result, receipt_id, clock_, keys_);
    const storage::ReceiptBuilder* builder_ptr = receipt_id.empty() ? nullptr : &builder;
    auto finished =
        co_await pool_.Run([&] { return store_.FinishDebate(record, events, builder_ptr); });
    if (!finished) co_return finished.error();

    RunOutcome out;
    out.record = std::move(record);
    out.receipt = std::move(*finished);
    out.result = std::move(result);
    co_return out;
}

}  // namespace aragora::cli
