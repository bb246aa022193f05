#include "cli.h"
int cmd_log(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return ag_cli_die("log", "not built yet");
}
