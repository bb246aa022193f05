#include "cli.h"
int cmd_enroll(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return ag_cli_die("enroll", "not built yet");
}
