#pragma once

// The server's callback metrics (database pool, WebSocket and HTTP connection counters,
// readiness), declared once on the App's registry before anything listens. Internal to app/.

#include "app/app_state.hpp"

namespace aragora::app {

void RegisterServerMetrics(App& app);

}  // namespace aragora::app
