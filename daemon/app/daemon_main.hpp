#pragma once

namespace aigw::daemon {

/// aigwd's whole program: flags, config, the gateway, signals, the state file.
int daemon_main(int argc, char** argv);

}  // namespace aigw::daemon
