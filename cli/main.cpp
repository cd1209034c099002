#include "cli/app.hpp"

int main(int argc, char** argv)
{
    return aigw::cli::cli_main(argc, argv);
}
