#include "trace/otlp_grpc.hpp"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

namespace aragora::trace {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using common::MakeError;

constexpr const char* kExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

// What one call needs until gRPC calls back (it may outlive the awaiting coroutine's
// interest, never its completion).
struct CallState {
    grpc::ClientContext context;
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
};

class GrpcTransport final : public Transport {
public:
    GrpcTransport(std::shared_ptr<grpc::Channel> channel, std::string target)
        : channel_(std::move(channel)), stub_(channel_), target_(std::move(target)) {}

    asio::awaitable<common::Status> Send(std::string body,
                                         std::chrono::milliseconds timeout) override {
        auto state = std::make_shared<CallState>();
        state->context.set_deadline(std::chrono::system_clock::now() + timeout);
        grpc::Slice slice(body.data(), body.size());
        state->request = grpc::ByteBuffer(&slice, 1);
        // Named first: a capturing lambda must not be a temporary of a co_await statement
        // (docs/development.md).
        auto initiation = [this, state](auto handler) { Start(state, std::move(handler)); };
        grpc::Status status =
            co_await asio::async_initiate<decltype(asio::use_awaitable), void(grpc::Status)>(
                initiation, asio::use_awaitable);
        if (status.ok()) co_return common::Status();
        const ErrorCode code = status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
                                   ? ErrorCode::kTimeout
                                   : ErrorCode::kUnavailable;
        co_return MakeError(code, "gRPC Export failed: " + std::to_string(status.error_code()) +
                                      " " + status.error_message());
    }

    std::string Describe() const override { return "grpc " + target_; }

private:
    template <class Handler>
    void Start(const std::shared_ptr<CallState>& state, Handler handler) {
        auto executor = asio::get_associated_executor(handler);
        // The work guard keeps the io_context running until gRPC answers; the handler
        // runs on the coroutine's own executor, never on a gRPC thread.
        using Pending = std::pair<Handler, asio::executor_work_guard<decltype(executor)>>;
        auto pending = std::make_shared<std::optional<Pending>>(std::in_place, std::move(handler),
                                                                asio::make_work_guard(executor));
        stub_.UnaryCall(&state->context, kExportMethod, grpc::StubOptions(), &state->request,
                        &state->response, [state, pending](grpc::Status status) {
                            Pending p = std::move(**pending);
                            pending->reset();
                            auto ex = p.second.get_executor();
                            asio::post(ex, [h = std::move(p.first), status]() mutable {
                                std::move(h)(status);
                            });
                        });
    }

    std::shared_ptr<grpc::Channel> channel_;
    grpc::GenericStub stub_;
    std::string target_;
};

}  // namespace

common::Result<std::unique_ptr<Transport>> MakeGrpcTransport(const std::string& endpoint) {
    std::string target = endpoint;
    bool tls = false;
    if (target.rfind("https://", 0) == 0) {
        tls = true;
        target = target.substr(8);
    } else if (target.rfind("http://", 0) == 0) {
        target = target.substr(7);
    } else if (target.find("://") != std::string::npos) {
        return MakeError(ErrorCode::kValidation,
                         "OTEL_EXPORTER_OTLP_ENDPOINT for gRPC must be http://host:port or "
                         "https://host:port, got '" +
                             endpoint + "'");
    }
    while (!target.empty() && target.back() == '/') target.pop_back();
    if (target.empty() || target.find('/') != std::string::npos) {
        return MakeError(ErrorCode::kValidation,
                         "OTEL_EXPORTER_OTLP_ENDPOINT for gRPC must name host:port only, got '" +
                             endpoint + "'");
    }
    auto credentials = tls ? grpc::SslCredentials(grpc::SslCredentialsOptions())
                           : grpc::InsecureChannelCredentials();
    std::unique_ptr<Transport> t =
        std::make_unique<GrpcTransport>(grpc::CreateChannel(target, credentials), target);
    return t;
}

}  // namespace aragora::trace
