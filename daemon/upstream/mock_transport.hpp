#pragma once
// The offline `mock` provider's transport: answers an OpenAI-shaped UpstreamRequest in
// process (providers/mock/mock.hpp decides what the answer is), as a whole body or as an SSE
// stream paced by timers. The mock adapter (providers/mock/mock_adapter.cpp) builds the
// requests and reads the answers like any OpenAI-compatible provider, so the pipeline
// has no mock-only branch.

#include "daemon/upstream/transport.hpp"

namespace aigw::daemon::upstream {

/// A Transport for the mock provider's base URL ("mock:").
std::unique_ptr<Transport> make_mock_transport();

}  // namespace aigw::daemon::upstream
