/* response.c: the API's answers: Firecracker's fault_message, and JSON bodies. */
#include "response.h"

#include <stdio.h>
#include <string.h>

void api_fault(struct api_response *resp, int status, const char *msg)
{
	static const char pre[] = "{\"fault_message\":\"";
	size_t n = sizeof(pre) - 1, room = sizeof(resp->body) - n - 3;
	size_t need;

	memcpy(resp->body, pre, n);
	need = http_json_escape(resp->body + n, room, msg);
	n += need < room ? need : strlen(resp->body + n);
	memcpy(resp->body + n, "\"}", 3);
	resp->len = n + 2;
	resp->status = status;
}

void api_json(struct api_response *resp, const char *json, size_t len)
{
	if (len >= sizeof(resp->body)) {
		api_fault(resp, 500, "The response is too large.");
		return;
	}
	memcpy(resp->body, json, len);
	resp->body[len] = '\0';
	resp->len = len;
	resp->status = 200;
}
