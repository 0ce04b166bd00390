/*
 * The `aws` command of the instance-script tests, compiled when a C compiler is there: the same
 * request as the Python shim of aws_cli_server.py (which stands in otherwise), without starting
 * Python for every call. It connects to the CLI server, hands over its standard streams, sends
 * its argv, environment, working directory and umask (Python's marshal format, strings as bytes),
 * forwards TERM, INT and HUP to the CLI, and ends as the CLI ended (its exit code, or the same
 * signal). If the server is not there it runs the real CLI.
 *
 *   cc -O2 -DSOCKET_PATH='"..."' -DREAL_AWS='"..."' -o aws aws_cli_shim.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

static int server = -1;

struct buffer {
  char *data;
  size_t size, capacity;
};

static void append(struct buffer *buffer, const void *data, size_t size) {
  if (buffer->size + size > buffer->capacity) {
    buffer->capacity = (buffer->size + size) * 2 + 4096;
    buffer->data = realloc(buffer->data, buffer->capacity);
    if (!buffer->data) _exit(255);
  }
  memcpy(buffer->data + buffer->size, data, size);
  buffer->size += size;
}

static void append_int32(struct buffer *buffer, int32_t value) {
  unsigned char little[4] = {value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff, (value >> 24) & 0xff};
  append(buffer, little, 4);
}

/* marshal: a str key (ASCII), and bytes values */
static void append_key(struct buffer *buffer, const char *key) {
  unsigned char length = (unsigned char)strlen(key);
  append(buffer, "z", 1);
  append(buffer, &length, 1);
  append(buffer, key, length);
}

static void append_bytes(struct buffer *buffer, const char *data, size_t size) {
  append(buffer, "s", 1);
  append_int32(buffer, (int32_t)size);
  append(buffer, data, size);
}

static void forward(int number) {
  unsigned char byte = (unsigned char)number;
  ssize_t ignored = write(server, &byte, 1);
  (void)ignored;
}

static int send_all(const char *data, size_t size) {
  while (size > 0) {
    ssize_t sent = send(server, data, size, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return -1;
    data += sent;
    size -= (size_t)sent;
  }
  return 0;
}

int main(int argc, char **argv) {
  (void)argc;
  server = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  strncpy(address.sun_path, SOCKET_PATH, sizeof(address.sun_path) - 1);
  if (server < 0 || connect(server, (struct sockaddr *)&address, sizeof(address)) < 0) {
    argv[0] = REAL_AWS;
    execv(REAL_AWS, argv);
    _exit(127);
  }
  mode_t mask = umask(0);
  umask(mask);
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof(cwd))) _exit(255);

  struct buffer request = {0};
  append(&request, "{", 1);
  append_key(&request, "argv");
  int count = 0;
  while (argv[count + 1]) count++;
  append(&request, "[", 1);
  append_int32(&request, count);
  for (int index = 1; index <= count; index++) append_bytes(&request, argv[index], strlen(argv[index]));
  /* As Python's os.environ: entries without '=' are left out, and the first of a repeated name counts. */
  append_key(&request, "env");
  append(&request, "{", 1);
  for (char **entry = environ; *entry; entry++) {
    const char *equals = strchr(*entry, '=');
    if (!equals || equals == *entry) continue;
    size_t name_length = (size_t)(equals - *entry);
    int repeated = 0;
    for (char **earlier = environ; earlier < entry && !repeated; earlier++) {
      repeated = strncmp(*earlier, *entry, name_length + 1) == 0;
    }
    if (repeated) continue;
    append_bytes(&request, *entry, name_length);
    append_bytes(&request, equals + 1, strlen(equals + 1));
  }
  append(&request, "0", 1);
  append_key(&request, "cwd");
  append_bytes(&request, cwd, strlen(cwd));
  append_key(&request, "umask");
  append(&request, "i", 1);
  append_int32(&request, (int32_t)mask);
  append(&request, "0", 1);

  /* The length, big-endian, carries the three standard streams. */
  uint32_t length = htonl((uint32_t)request.size);
  int fds[3] = {0, 1, 2};
  char control[CMSG_SPACE(sizeof(fds))];
  memset(control, 0, sizeof(control));
  struct iovec vector = {.iov_base = &length, .iov_len = 4};
  struct msghdr message = {.msg_iov = &vector, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
  struct cmsghdr *header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(fds));
  memcpy(CMSG_DATA(header), fds, sizeof(fds));
  ssize_t sent;
  do sent = sendmsg(server, &message, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent != 4 || send_all(request.data, request.size) < 0) _exit(255);
  close(0);
  close(1);

  struct sigaction forwarding = {.sa_handler = forward};
  sigemptyset(&forwarding.sa_mask);
  sigaction(SIGTERM, &forwarding, NULL);
  sigaction(SIGINT, &forwarding, NULL);
  sigaction(SIGHUP, &forwarding, NULL);

  unsigned char reply[4];
  size_t got = 0;
  while (got < 4) {
    ssize_t chunk = recv(server, reply + got, 4 - got, 0);
    if (chunk < 0 && errno == EINTR) continue;
    if (chunk <= 0) _exit(255);
    got += (size_t)chunk;
  }
  int32_t status = (int32_t)(((uint32_t)reply[0] << 24) | ((uint32_t)reply[1] << 16) | ((uint32_t)reply[2] << 8) | reply[3]);
  if (status < 0) {
    signal(-status, SIG_DFL);
    kill(getpid(), -status);
    _exit(128 - status);
  }
  _exit(status);
}
