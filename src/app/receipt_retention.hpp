#pragma once

// `serve`'s receipt retention schedule (service::ReceiptRetention does the work). The
// first cleanup runs first_delay after start (ARAGORA_RECEIPT_CLEANUP_FIRST_DELAY_SECONDS,
// the original's 60 s), then one per slot: slots are the interval-long windows
// (ARAGORA_RECEIPT_CLEANUP_INTERVAL_HOURS) counted from the Unix epoch in UTC, so every
// instance sharing a database computes the same slots and exactly one of them runs each
// (storage ClaimScheduledRun). A restart inside a slot that already ran waits for the next
// one. Between runs the receipt and hold gauges are refreshed every gauge_refresh. Store
// work runs on the blocking pool; one log line per run (the service's).

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "common/clock.hpp"
#include "config/settings.hpp"
#include "service/receipt_retention.hpp"

namespace aragora::app {

struct RetentionSchedule {
    std::chrono::seconds first_delay{60};
    std::chrono::seconds interval{std::chrono::hours(24)};
    std::chrono::seconds gauge_refresh{std::chrono::minutes(5)};
    std::string instance_id;  // this process, as ClaimScheduledRun records it
};

// The retention service's options from the settings.
service::RetentionOptions RetentionOptionsFrom(const config::ReceiptSettings& settings);
// The schedule of config::ReceiptSettings with `instance_id`.
RetentionSchedule RetentionScheduleFrom(const config::ReceiptSettings& settings,
                                        std::string instance_id);

// The start of the slot holding `now`: the largest multiple of `interval` since the Unix
// epoch that is <= now.
std::chrono::system_clock::time_point RetentionSlotStart(std::chrono::system_clock::time_point now,
                                                         std::chrono::seconds interval);

class ReceiptRetentionScheduler {
public:
    // Waits `d` (the real scheduler: a steady timer on the executor; tests advance a
    // manual clock instead). Must complete; Stop() does not interrupt it.
    using Sleep = std::function<boost::asio::awaitable<void>(std::chrono::milliseconds d)>;

    // `retention` and `clock` must outlive the scheduler. An empty `sleep` uses a timer.
    ReceiptRetentionScheduler(boost::asio::any_io_executor executor, const common::Clock& clock,
                              service::ReceiptRetention& retention, RetentionSchedule schedule,
                              Sleep sleep = {});

    // Spawns Run() on the executor (detached). Call once.
    void Start();
    // The loop ends at its next wake-up; the running gauge drops at once.
    void Stop();

    // The loop itself: counts the receipts for the gauges, waits first_delay, then until
    // stopped: runs the slot of now when this process has not run it yet (the claim decides
    // among instances) or else refreshes the gauges, and sleeps until the next slot or the
    // next refresh, whichever is sooner.
    boost::asio::awaitable<void> Run();

    // Slots this process claimed and ran, and slots another instance had taken.
    int slots_run() const { return slots_run_.load(); }
    int slots_skipped() const { return slots_skipped_.load(); }

private:
    boost::asio::awaitable<void> Wait(std::chrono::milliseconds d);

    boost::asio::any_io_executor executor_;
    const common::Clock& clock_;
    service::ReceiptRetention& retention_;
    RetentionSchedule schedule_;
    Sleep sleep_;
    std::atomic<bool> stopped_{false};
    std::atomic<int> slots_run_{0};
    std::atomic<int> slots_skipped_{0};
};

}  // namespace aragora::app
