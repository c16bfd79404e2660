#include "trace/tracing.hpp"

#include "trace/otlp_grpc.hpp"
#include "trace/otlp_http.hpp"

namespace aragora::trace {

common::Result<std::unique_ptr<Tracing>> Tracing::Start(const TraceSettings& settings,
                                                        boost::asio::io_context& ioc,
                                                        const common::Clock& clock,
                                                        Resource resource,
                                                        metrics::Registry& registry) {
    std::unique_ptr<Transport> transport;
    if (settings.protocol == Protocol::kGrpc) {
        auto t = MakeGrpcTransport(settings.endpoint);
        if (!t) return t.error();
        transport = std::move(*t);
    } else {
        transport = MakeHttpTransport(ioc, settings.traces_url);
    }
    ExporterOptions options{settings.max_queue, settings.max_batch, settings.schedule_delay,
                            settings.export_timeout};
    auto exporter = std::make_unique<BatchExporter>(ioc.get_executor(), std::move(transport),
                                                    std::move(resource), options);
    exporter->RegisterMetrics(registry);
    exporter->Start();
    return std::unique_ptr<Tracing>(new Tracing(std::move(exporter), settings.sampler, clock));
}

}  // namespace aragora::trace
