#pragma once

// SENTRY_DSN in `serve`: the Sentry reporter (src/sentry/) is built here and handed to the
// error log (5xx answers) and the agent factory (calls failed past their retries); the
// startup sequence hands it to the debate service (failed and crashed debates).

#include "common/result.hpp"

namespace aragora::app {

struct App;

// Without SENTRY_DSN: nothing (app.sentry stays null). A DSN that does not parse, or
// names http:// for a non-loopback host: kValidation naming SENTRY_DSN (the start stops).
common::Status SetUpErrorReporting(App& app);

}  // namespace aragora::app
