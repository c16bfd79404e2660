#include "app/error_reporting.hpp"

#include "agents/factory.hpp"
#include "app/app_state.hpp"

namespace aragora::app {

common::Status SetUpErrorReporting(App& app) {
    auto reporter = sentry::ReporterFromSettings(
        app.settings, agents::ClientOptionsFrom(app.settings.agents), app.clock, app.registry);
    if (!reporter) return reporter.error();
    app.sentry = std::move(*reporter);
    app.errors.SetReporter(app.sentry.get());
    app.agents.SetErrorReporter(app.sentry.get());
    return {};
}

}  // namespace aragora::app
