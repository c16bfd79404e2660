#include "cli/commands.hpp"

int main(int argc, char** argv) { return aragora::cli::RunCli(argc, argv); }
