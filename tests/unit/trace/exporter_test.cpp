#include "trace/exporter.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "metrics/registry.hpp"

namespace aragora::trace {
namespace {

namespace asio = boost::asio;

struct FakeTransport final : Transport {
    struct State {
        bool fail = false;
        std::vector<std::string> bodies;
        std::vector<std::chrono::milliseconds> timeouts;
    };
    explicit FakeTransport(std::shared_ptr<State> s) : state(std::move(s)) {}
    asio::awaitable<common::Status> Send(std::string body,
                                         std::chrono::milliseconds timeout) override {
        state->bodies.push_back(std::move(body));
        state->timeouts.push_back(timeout);
        if (state->fail) co_return common::MakeError(common::ErrorCode::kUnavailable, "down");
        co_return common::Status();
    }
    std::string Describe() const override { return "fake"; }
    std::shared_ptr<State> state;
};

SpanData Span(int i) {
    SpanData s;
    s.trace_id.bytes.fill(1);
    s.span_id.bytes.fill(static_cast<std::uint8_t>(i + 1));
    s.name = "s" + std::to_string(i);
    return s;
}

class ExporterTest : public ::testing::Test {
protected:
    std::unique_ptr<BatchExporter> Make(std::size_t queue, std::size_t batch) {
        ExporterOptions o;
        o.max_queue = queue;
        o.max_batch = batch;
        o.export_timeout = std::chrono::milliseconds(1234);
        return std::make_unique<BatchExporter>(ioc_.get_executor(),
                                               std::make_unique<FakeTransport>(state_),
                                               Resource{"svc", "", ""}, o);
    }
    void Flush(BatchExporter& e) {
        auto f = asio::co_spawn(ioc_, e.Flush(), asio::use_future);
        ioc_.run();
        ioc_.restart();
        f.get();
    }

    asio::io_context ioc_;
    std::shared_ptr<FakeTransport::State> state_ = std::make_shared<FakeTransport::State>();
};

TEST_F(ExporterTest, FlushSendsQueuedSpansInBatchesWithTheDeadline) {
    auto e = Make(100, 4);
    for (int i = 0; i < 10; ++i) e->OnEnd(Span(i));
    EXPECT_EQ(e->stats().queued.load(), 10u);
    Flush(*e);
    EXPECT_EQ(state_->bodies.size(), 3u);  // 4 + 4 + 2
    EXPECT_EQ(e->stats().exported.load(), 10u);
    EXPECT_EQ(e->stats().queued.load(), 0u);
    for (auto t : state_->timeouts) EXPECT_EQ(t.count(), 1234);
    EXPECT_NE(state_->bodies[0].find("s0"), std::string::npos);
    EXPECT_NE(state_->bodies[2].find("s9"), std::string::npos);
}

TEST_F(ExporterTest, AFullQueueDropsAndCountsWithoutWaiting) {
    auto e = Make(3, 3);
    for (int i = 0; i < 5; ++i) e->OnEnd(Span(i));  // nothing runs the io_context here
    EXPECT_EQ(e->stats().queued.load(), 3u);
    EXPECT_EQ(e->stats().dropped_queue_full.load(), 2u);
    Flush(*e);
    EXPECT_EQ(e->stats().exported.load(), 3u);
}

TEST_F(ExporterTest, AFailedExportDropsItsBatchAndCountsIt) {
    auto e = Make(100, 2);
    state_->fail = true;
    for (int i = 0; i < 5; ++i) e->OnEnd(Span(i));
    Flush(*e);
    // The first batch failed: the round stops, its spans are dropped and counted.
    EXPECT_EQ(state_->bodies.size(), 1u);
    EXPECT_EQ(e->stats().dropped_export.load(), 2u);
    EXPECT_EQ(e->stats().export_failures.load(), 1u);
    EXPECT_EQ(e->stats().queued.load(), 3u);
    state_->fail = false;
    Flush(*e);
    EXPECT_EQ(e->stats().exported.load(), 3u);
}

TEST_F(ExporterTest, MetricsReadTheCounters) {
    metrics::Registry registry;
    auto e = Make(1, 1);
    e->RegisterMetrics(registry);
    e->OnEnd(Span(0));
    e->OnEnd(Span(1));  // dropped: queue full
    const std::string text = registry.RenderPrometheus();
    EXPECT_NE(text.find("aragora_trace_spans_dropped_total 1"), std::string::npos) << text;
    EXPECT_NE(text.find("aragora_trace_queue_spans 1"), std::string::npos) << text;
    EXPECT_NE(text.find("aragora_trace_spans_exported_total 0"), std::string::npos) << text;
}

}  // namespace
}  // namespace aragora::trace
