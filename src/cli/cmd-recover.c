#include "cli.h"
int cmd_recover(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return ag_cli_die("recover", "not built yet");
}
