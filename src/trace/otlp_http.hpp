#pragma once

// OTLP/HTTP transport: POST <url> with Content-Type application/x-protobuf over the
// project's net::HttpClient (its own connection pool, so trace export never takes a
// provider connection). 2xx is success; any other status or a transport error fails.

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "trace/exporter.hpp"

namespace aragora::trace {

std::unique_ptr<Transport> MakeHttpTransport(boost::asio::io_context& ioc, std::string url);

}  // namespace aragora::trace
