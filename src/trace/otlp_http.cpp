#include "trace/otlp_http.hpp"

#include "net/http_client.hpp"

namespace aragora::trace {
namespace {

namespace asio = boost::asio;

class HttpTransport final : public Transport {
public:
    HttpTransport(asio::io_context& ioc, std::string url)
        : client_(ioc, Options()), url_(std::move(url)) {}

    asio::awaitable<common::Status> Send(std::string body,
                                         std::chrono::milliseconds timeout) override {
        net::ClientRequest request;
        request.method = "POST";
        request.url = url_;
        request.headers = {{"Content-Type", "application/x-protobuf"}};
        request.body = std::move(body);
        request.timeout = timeout;
        auto response = co_await client_.Send(std::move(request));
        if (!response) co_return response.error();
        if (response->status < 200 || response->status >= 300) {
            co_return common::MakeError(common::ErrorCode::kUnavailable,
                                        "collector answered HTTP " +
                                            std::to_string(response->status) + ": " +
                                            response->body.substr(0, 200));
        }
        co_return common::Status();
    }

    std::string Describe() const override { return "http/protobuf " + url_; }

private:
    static net::HttpClientOptions Options() {
        net::HttpClientOptions o;
        o.max_idle_per_host = 2;
        o.max_response_bytes = 64 * 1024;
        o.user_agent = "aragora-otlp";
        return o;
    }

    net::HttpClient client_;
    std::string url_;
};

}  // namespace

std::unique_ptr<Transport> MakeHttpTransport(asio::io_context& ioc, std::string url) {
    return std::make_unique<HttpTransport>(ioc, std::move(url));
}

}  // namespace aragora::trace
