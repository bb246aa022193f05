#include "cli.h"
int cmd_serve(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return ag_cli_die("serve", "not built yet");
}
