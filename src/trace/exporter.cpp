#include "trace/exporter.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <mutex>
#include <vector>

#include "common/logging.hpp"
#include "metrics/registry.hpp"

namespace aragora::trace {

namespace asio = boost::asio;

struct BatchExporter::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::any_io_executor ex, std::unique_ptr<Transport> t, Resource r, ExporterOptions o)
        : strand(asio::make_strand(ex)),
          timer(strand),
          transport(std::move(t)),
          resource(std::move(r)),
          options(o),
          stats(std::make_shared<ExporterStats>()),
          log(common::GetLogger("aragora.trace")) {}

    asio::strand<asio::any_io_executor> strand;
    asio::steady_timer timer;  // strand only
    std::unique_ptr<Transport> transport;
    Resource resource;
    ExporterOptions options;
    std::shared_ptr<ExporterStats> stats;
    std::shared_ptr<spdlog::logger> log;

    std::mutex mu;
    std::deque<SpanData> queue;  // bounded by options.max_queue
    std::atomic<bool> wake_posted{false};
    std::atomic<bool> stopping{false};
    bool failing = false;  // strand only: the last export failed (log on changes only)

    std::vector<SpanData> TakeBatch() {
        std::vector<SpanData> batch;
        std::lock_guard lock(mu);
        const std::size_t n = std::min(queue.size(), options.max_batch);
        batch.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            batch.push_back(std::move(queue.front()));
            queue.pop_front();
        }
        stats->queued.store(queue.size(), std::memory_order_relaxed);
        return batch;
    }

    asio::awaitable<void> ExportQueued() {
        while (true) {
            std::vector<SpanData> batch = TakeBatch();
            if (batch.empty()) co_return;
            std::string body = EncodeExportRequest(resource, batch);
            auto sent = co_await transport->Send(std::move(body), options.export_timeout);
            if (sent) {
                stats->exported.fetch_add(batch.size(), std::memory_order_relaxed);
                if (failing) {
                    failing = false;
                    log->info("trace export recovered collector={}", transport->Describe());
                }
                continue;
            }
            stats->dropped_export.fetch_add(batch.size(), std::memory_order_relaxed);
            stats->export_failures.fetch_add(1, std::memory_order_relaxed);
            if (!failing) {
                failing = true;
                log->warn(
                    "trace export failed collector={} spans_dropped={} error={} (spans are "
                    "dropped and counted in aragora_trace_spans_dropped_total until it answers)",
                    transport->Describe(), batch.size(), sent.error().message);
            }
            co_return;
        }
    }

    asio::awaitable<void> Loop() {
        while (!stopping.load()) {
            timer.expires_after(options.schedule_delay);
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            wake_posted.store(false);
            if (stopping.load()) break;
            co_await ExportQueued();
        }
    }
};

namespace {

// The loop's frame owns a reference to the state (a lambda's captures would not outlive
// co_spawn).
asio::awaitable<void> RunLoop(std::shared_ptr<BatchExporter::Impl> self) { co_await self->Loop(); }

}  // namespace

BatchExporter::BatchExporter(asio::any_io_executor executor, std::unique_ptr<Transport> transport,
                             Resource resource, ExporterOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(transport), std::move(resource),
                                   options)) {}

BatchExporter::~BatchExporter() {
    impl_->stopping.store(true);
    auto impl = impl_;
    asio::post(impl->strand, [impl] { impl->timer.cancel(); });
}

void BatchExporter::OnEnd(SpanData span) {
    auto& impl = *impl_;
    std::size_t size = 0;
    {
        std::lock_guard lock(impl.mu);
        if (impl.queue.size() >= impl.options.max_queue) {
            impl.stats->dropped_queue_full.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        impl.queue.push_back(std::move(span));
        size = impl.queue.size();
        impl.stats->queued.store(size, std::memory_order_relaxed);
    }
    if (size >= impl.options.max_batch && !impl.wake_posted.exchange(true)) {
        auto self = impl_;
        asio::post(impl.strand, [self] { self->timer.cancel(); });
    }
}

void BatchExporter::Start() { asio::co_spawn(impl_->strand, RunLoop(impl_), asio::detached); }

asio::awaitable<void> BatchExporter::Flush() {
    auto self = impl_;
    co_await asio::co_spawn(self->strand, self->ExportQueued(), asio::use_awaitable);
}

asio::awaitable<void> BatchExporter::Shutdown() {
    co_await Flush();
    impl_->stopping.store(true);
    auto self = impl_;
    asio::post(self->strand, [self] { self->timer.cancel(); });
}

void BatchExporter::RegisterMetrics(metrics::Registry& registry) {
    std::shared_ptr<const ExporterStats> s = impl_->stats;
    registry.AddCallbackCounter("aragora_trace_spans_exported_total",
                                "Spans the OTLP collector accepted.",
                                [s] { return static_cast<double>(s->exported.load()); });
    registry.AddCallbackCounter(
        "aragora_trace_spans_dropped_total",
        "Spans dropped: the export queue was full, or their export call failed (collector "
        "down or too slow).",
        [s] {
            return static_cast<double>(s->dropped_queue_full.load() + s->dropped_export.load());
        });
    registry.AddCallbackCounter("aragora_trace_export_failures_total",
                                "OTLP export calls that failed or passed their deadline.",
                                [s] { return static_cast<double>(s->export_failures.load()); });
    registry.AddCallbackGauge("aragora_trace_queue_spans", "Ended spans waiting for export.",
                              [s] { return static_cast<double>(s->queued.load()); });
}

const ExporterStats& BatchExporter::stats() const { return *impl_->stats; }

}  // namespace aragora::trace
