/*
 * sockfloor.c: the floor for "process start to API socket accepting" on this host: a program
 * that does nothing but create, bind and listen on a Unix socket, then waits. Linked like
 * ember (dynamic PIE) so that exec and the dynamic loader cost the same kind of work.
 *   sockfloor PATH
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (argc < 2 || fd < 0)
		return 1;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", argv[1]);
	unlink(a.sun_path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 128))
		return 1;
	for (;;)
		pause();
}
