#pragma once

// The batch span exporter: ended spans wait in one bounded queue and leave in batches,
// encoded as an OTLP ExportTraceServiceRequest, through a Transport (OTLP/gRPC or
// OTLP/HTTP). A request never waits for it: OnEnd takes a lock for a push and, when the
// queue is full, drops the span and counts it. Every export call has a deadline; a failed
// batch is dropped and counted, never retried (the next batch tries again), so a
// collector that is down costs one failed call per schedule delay and the dropped-span
// counter, nothing else.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "trace/otlp_encode.hpp"
#include "trace/tracer.hpp"

namespace aragora::metrics {
class Registry;
}

namespace aragora::trace {

// Sends one encoded request. Must be safe for concurrent calls, never throw, and answer
// within `timeout` (kTimeout past it).
class Transport {
public:
    virtual ~Transport() = default;
    virtual boost::asio::awaitable<common::Status> Send(std::string body,
                                                        std::chrono::milliseconds timeout) = 0;
    virtual std::string Describe() const = 0;  // "grpc 127.0.0.1:4317", for logs
};

struct ExporterOptions {
    std::size_t max_queue = 2048;
    std::size_t max_batch = 512;
    std::chrono::milliseconds schedule_delay{5000};
    std::chrono::milliseconds export_timeout{10000};
};

// Monotonic counters (read by the metrics callbacks and tests).
struct ExporterStats {
    std::atomic<std::uint64_t> exported{0};            // spans the collector accepted
    std::atomic<std::uint64_t> dropped_queue_full{0};  // spans refused by a full queue
    std::atomic<std::uint64_t> dropped_export{0};      // spans of failed export calls
    std::atomic<std::uint64_t> export_failures{0};     // failed export calls
    std::atomic<std::uint64_t> queued{0};              // spans waiting now (a gauge)
};

class BatchExporter final : public SpanSink {
public:
    // Nothing runs until Start(). The exporter keeps its own strand on `executor`.
    BatchExporter(boost::asio::any_io_executor executor, std::unique_ptr<Transport> transport,
                  Resource resource, ExporterOptions options);
    ~BatchExporter() override;

    // Thread-safe, never blocks beyond a short lock: queues the span or drops it (counted).
    void OnEnd(SpanData span) override;

    // Starts the export loop: every schedule_delay, or at once when a batch is full, the
    // queued spans leave in batches of max_batch.
    void Start();
    // Exports every span queued now (batch by batch; a failure drops the rest of this
    // round, counted). For drain and tests.
    boost::asio::awaitable<void> Flush();
    // Stops the loop after a last Flush.
    boost::asio::awaitable<void> Shutdown();

    // aragora_trace_spans_exported_total, aragora_trace_spans_dropped_total,
    // aragora_trace_export_failures_total, aragora_trace_queue_spans.
    void RegisterMetrics(metrics::Registry& registry);

    const ExporterStats& stats() const;

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace aragora::trace
