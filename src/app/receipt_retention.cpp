#include "app/receipt_retention.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <utility>

#include "common/logging.hpp"
#include "common/time.hpp"

namespace aragora::app {
namespace {

namespace asio = boost::asio;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::shared_ptr<spdlog::logger> Log() { return common::GetLogger("aragora.receipts"); }

}  // namespace

service::RetentionOptions RetentionOptionsFrom(const config::ReceiptSettings& settings) {
    service::RetentionOptions o;
    o.retention_days = settings.retention_days;
    o.cleanup_interval_hours = settings.cleanup_interval_hours;
    return o;
}

RetentionSchedule RetentionScheduleFrom(const config::ReceiptSettings& settings,
                                        std::string instance_id) {
    RetentionSchedule s;
    s.first_delay = seconds(settings.cleanup_first_delay_seconds);
    s.interval = std::chrono::hours(settings.cleanup_interval_hours);
    s.instance_id = std::move(instance_id);
    return s;
}

std::chrono::system_clock::time_point RetentionSlotStart(std::chrono::system_clock::time_point now,
                                                         seconds interval) {
    const auto since_epoch = duration_cast<seconds>(now.time_since_epoch());
    const auto step = std::max<seconds::rep>(1, interval.count());
    auto slots = since_epoch.count() / step;
    if (since_epoch.count() < 0 && since_epoch.count() % step != 0) --slots;  // floor
    return std::chrono::system_clock::time_point(seconds(slots * step));
}

ReceiptRetentionScheduler::ReceiptRetentionScheduler(asio::any_io_executor executor,
                                                     const common::Clock& clock,
                                                     service::ReceiptRetention& retention,
                                                     RetentionSchedule schedule, Sleep sleep)
    : executor_(std::move(executor)),
      clock_(clock),
      retention_(retention),
      schedule_(std::move(schedule)),
      sleep_(std::move(sleep)) {}

void ReceiptRetentionScheduler::Start() {
    retention_.SetScheduler(true,
                            common::FormatIso8601(clock_.SystemNow() + schedule_.first_delay));
    Log()->info(
        "receipt retention scheduler: retention_days={} first cleanup in {} s, then every {} h "
        "(one instance per slot, instance={})",
        retention_.options().retention_days, schedule_.first_delay.count(),
        duration_cast<std::chrono::hours>(schedule_.interval).count(), schedule_.instance_id);
    asio::co_spawn(executor_, Run(), [](std::exception_ptr ep) {
        if (!ep) return;
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            Log()->critical("receipt retention scheduler crashed: {}", e.what());
        }
    });
}

void ReceiptRetentionScheduler::Stop() {
    stopped_ = true;
    retention_.SetScheduler(false, "");
}

asio::awaitable<void> ReceiptRetentionScheduler::Wait(milliseconds d) {
    if (sleep_) {
        co_await sleep_(d);
        co_return;
    }
    asio::steady_timer timer(executor_, d);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> ReceiptRetentionScheduler::Run() {
    // The gauges count what is stored from the start, not from the first cleanup.
    if (auto counted = co_await retention_.RefreshGauges(); !counted) {
        Log()->warn("receipt gauges not counted: {}", counted.error().message);
    }
    co_await Wait(duration_cast<milliseconds>(schedule_.first_delay));
    std::string last_slot;
    while (!stopped_) {
        const auto now = clock_.SystemNow();
        const auto slot_start = RetentionSlotStart(now, schedule_.interval);
        const std::string slot = common::FormatIso8601(slot_start);
        if (slot != last_slot) {
            auto ran = co_await retention_.RunScheduledSlot(slot, schedule_.instance_id);
            if (!ran) {
                // Not even claimed (database down): the next wake-up tries this slot again.
                Log()->error("receipt retention slot {} not run: {}", slot, ran.error().message);
            } else {
                last_slot = slot;
                if (ran->claimed) {
                    ++slots_run_;
                } else {
                    ++slots_skipped_;
                }
            }
        } else {
            auto refreshed = co_await retention_.RefreshGauges();
            if (!refreshed) {
                Log()->warn("receipt gauges not refreshed: {}", refreshed.error().message);
            }
        }
        if (stopped_) break;
        const auto next_slot = slot_start + schedule_.interval;
        const auto after = clock_.SystemNow();
        auto wait = duration_cast<milliseconds>(next_slot - after);
        const auto longest =
            std::max(milliseconds(1000), duration_cast<milliseconds>(schedule_.gauge_refresh));
        wait = std::clamp(wait, milliseconds(1000), longest);
        retention_.SetScheduler(true, common::FormatIso8601(next_slot));
        co_await Wait(wait);
    }
}

}  // namespace aragora::app
