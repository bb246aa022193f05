#include "cli.h"
int cmd_decide(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return ag_cli_die("decide", "not built yet");
}
