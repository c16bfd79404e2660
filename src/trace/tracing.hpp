#pragma once

// What the composition root owns when tracing is on: the transport chosen by
// OTEL_EXPORTER_OTLP_PROTOCOL, the batch exporter and the tracer. `Root()` is the
// context handed to the middleware and the service (a no-op context when tracing is off,
// i.e. when no Tracing object exists).

#include <boost/asio/io_context.hpp>
#include <memory>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "trace/exporter.hpp"
#include "trace/settings.hpp"
#include "trace/tracer.hpp"

namespace aragora::metrics {
class Registry;
}

namespace aragora::trace {

class Tracing {
public:
    // Builds and starts the exporter (settings.enabled must be true). kValidation for an
    // endpoint the protocol cannot use.
    static common::Result<std::unique_ptr<Tracing>> Start(const TraceSettings& settings,
                                                          boost::asio::io_context& ioc,
                                                          const common::Clock& clock,
                                                          Resource resource,
                                                          metrics::Registry& registry);

    Context Root() { return Context{&tracer_, {}}; }
    Tracer& tracer() { return tracer_; }
    BatchExporter& exporter() { return *exporter_; }
    // Exports what is queued, then stops (drain).
    boost::asio::awaitable<void> Shutdown() { return exporter_->Shutdown(); }

private:
    Tracing(std::unique_ptr<BatchExporter> exporter, SamplerSettings sampler,
            const common::Clock& clock)
        : exporter_(std::move(exporter)), tracer_(sampler, clock, *exporter_) {}

    std::unique_ptr<BatchExporter> exporter_;
    Tracer tracer_;
};

}  // namespace aragora::trace
