/* SPDX-License-Identifier: MIT */
/*
 * fork/exec with concurrent capture and a group timeout (see ag-run.h).
 * Once the command has exited, pipes still held open by background
 * children are drained for a short grace time and then abandoned, so a
 * daemon started by a command cannot hold the agent.
 */
#include "ag-run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "af-mem.h"
#include "ag-util.h"

/* How long pipes may stay open after the command itself has exited. */
#define AG_RUN_PIPE_GRACE_MS 500

void
ag_run_result_free(struct ag_run_result *res)
{
    af_buf_free(&res->out);
    af_buf_free(&res->err);
}

static void
ag_run_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);

    if (fl >= 0)
        fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

/* In the child: set up fds and exec; never returns. */
static void
ag_run_child(
    const char *path, char *const argv[], int out_w, int err_w, int exec_w)
{
    int null_fd, e;

    setpgid(0, 0);
    signal(SIGPIPE, SIG_DFL);
    null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0 && null_fd != 0) {
        dup2(null_fd, 0);
        close(null_fd);
    }
    dup2(out_w, 1);
    dup2(err_w, 2);
    if (out_w > 2)
        close(out_w);
    if (err_w > 2)
        close(err_w);
    setenv("PATH", AG_PATH, 1);
    if (path != NULL)
        execv(path, argv);
    else
        execvp(argv[0], argv);
    e = errno;
    (void)!write(exec_w, &e, sizeof(e));
    _exit(127);
}

struct ag_tee {
    ag_run_tee_fn fn;
    void *data;
};

static void
ag_run_take(int *fd,
            struct af_buf *b,
            size_t *total,
            size_t cap,
            const struct ag_tee *tee,
            int stream)
{
    char buf[65536];
    ssize_t r;

    r = read(*fd, buf, sizeof(buf));
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (r <= 0) {
        close(*fd);
        *fd = -1;
        return;
    }
    *total += (size_t)r;
    if (tee->fn != NULL)
        tee->fn(tee->data, stream, buf, (size_t)r);
    if (cap == 0) {
        b->truncated = 1;
        return;
    }
    af_buf_append(b, buf, (size_t)r);
}

/*
 * The errno the child sent when its exec failed (then a message naming
 * argv0 goes to res->err), or 0 when the exec succeeded.
 */
static int
ag_run_exec_errno(int exec_fd,
                  const char *argv0,
                  const struct ag_tee *tee,
                  struct ag_run_result *res)
{
    int exec_errno = 0;
    ssize_t r;

    do {
        r = read(exec_fd, &exec_errno, sizeof(exec_errno));
    } while (r < 0 && errno == EINTR);
    if (r == (ssize_t)sizeof(exec_errno)) {
        char *msg = af_asprintf("ascend-fleet-agent: cannot execute %s: %s\n",
                                argv0, strerror(exec_errno));

        af_buf_puts(&res->err, msg);
        res->err_total = strlen(msg);
        if (tee->fn != NULL)
            tee->fn(tee->data, 2, msg, strlen(msg));
        free(msg);
    }
    return exec_errno;
}

/*
 * Capture the child's stdout and stderr into res until it has exited and
 * both pipes are closed (or the grace time after its exit has passed).
 * At deadline (0: none) the process group gets SIGTERM, and SIGKILL
 * AG_RUN_KILL_GRACE_MS later. Closes the pipes it reads to the end and
 * sets them to -1. Returns the wait status.
 */
static int
ag_run_collect(pid_t pid,
               int *out_fd,
               int *err_fd,
               long long deadline,
               size_t cap,
               const struct ag_tee *tee,
               struct ag_run_result *res)
{
    long long kill_at = 0, exited_at = 0, backoff = 1;
    int phase = 0, exited = 0, status = 0;

    for (;;) {
        struct pollfd pf[2];
        long long now = ag_now_ms(), wait_ms = 100;
        int n = 0, i;

        if (!exited) {
            pid_t w = waitpid(pid, &status, WNOHANG);

            if (w == pid) {
                exited = 1;
                exited_at = now;
            }
        }
        if (exited && *out_fd < 0 && *err_fd < 0)
            break;
        if (exited && now - exited_at >= AG_RUN_PIPE_GRACE_MS)
            break;
        if (!exited && deadline != 0 && phase == 0 && now >= deadline) {
            kill(-pid, SIGTERM);
            res->timed_out = 1;
            phase = 1;
            kill_at = now + AG_RUN_KILL_GRACE_MS;
        }
        if (!exited && phase == 1 && now >= kill_at) {
            kill(-pid, SIGKILL);
            phase = 2;
        }
        if (deadline != 0 && phase == 0 && deadline - now < wait_ms)
            wait_ms = deadline - now;
        if (phase == 1 && kill_at - now < wait_ms)
            wait_ms = kill_at - now;
        if (wait_ms < 0)
            wait_ms = 0;
        if (*out_fd >= 0) {
            pf[n].fd = *out_fd;
            pf[n++].events = POLLIN;
        }
        if (*err_fd >= 0) {
            pf[n].fd = *err_fd;
            pf[n++].events = POLLIN;
        }
        if (n == 0) {
            /*
             * Both streams closed: wait for the exit, polling quickly at
             * first since that usually follows within a millisecond.
             */
            struct timespec ts;

            if (backoff < wait_ms)
                wait_ms = backoff;
            backoff = backoff * 2 > 100 ? 100 : backoff * 2;
            ts.tv_sec = 0;
            ts.tv_nsec = (long)wait_ms * 1000000L;
            if (wait_ms > 0)
                nanosleep(&ts, NULL);
            continue;
        }
        if (poll(pf, (nfds_t)n, (int)wait_ms) <= 0)
            continue;
        for (i = 0; i < n; i++) {
            if ((pf[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
                continue;
            if (pf[i].fd == *out_fd)
                ag_run_take(out_fd, &res->out, &res->out_total, cap, tee, 1);
            else
                ag_run_take(err_fd, &res->err, &res->err_total, cap, tee, 2);
        }
    }
    return status;
}

int
ag_run(const char *root,
       char *const argv[],
       int timeout_s,
       size_t cap,
       struct ag_run_result *res)
{
    return ag_run_tee(root, argv, timeout_s, cap, NULL, NULL, res);
}

int
ag_run_tee(const char *root,
           char *const argv[],
           int timeout_s,
           size_t cap,
           ag_run_tee_fn tee_fn,
           void *tee_data,
           struct ag_run_result *res)
{
    struct ag_tee tee = {tee_fn, tee_data};
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, execp[2] = {-1, -1};
    char *path = NULL;
    long long start, deadline = 0;
    int status = 0, rc = 0, exec_errno = 0;
    pid_t pid;

    memset(res, 0, sizeof(*res));
    if (cap > AG_RUN_MAX_CAP)
        cap = AG_RUN_MAX_CAP;
    af_buf_init(&res->out, cap);
    af_buf_init(&res->err, cap);
    start = ag_now_ms();
    if (pipe(outp) != 0 || pipe(errp) != 0 || pipe(execp) != 0) {
        rc = -errno;
        goto out;
    }
    ag_run_cloexec(outp[0]);
    ag_run_cloexec(errp[0]);
    ag_run_cloexec(execp[0]);
    ag_run_cloexec(execp[1]);
    path = ag_find_tool(root, argv[0], 1);
    pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto out;
    }
    if (pid == 0)
        ag_run_child(path, argv, outp[1], errp[1], execp[1]);
    setpgid(pid, pid);
    close(outp[1]);
    close(errp[1]);
    close(execp[1]);
    outp[1] = errp[1] = execp[1] = -1;

    exec_errno = ag_run_exec_errno(execp[0], argv[0], &tee, res);
    if (timeout_s > 0)
        deadline = start + (long long)timeout_s * 1000;

    status = ag_run_collect(pid, &outp[0], &errp[0], deadline, cap, &tee, res);
    if (WIFEXITED(status)) {
        res->rc = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        res->sig = WTERMSIG(status);
        res->rc = 128 + res->sig;
    }
    if (exec_errno != 0)
        res->rc = 127;
out:
    res->duration_ms = ag_now_ms() - start;
    if (outp[0] >= 0)
        close(outp[0]);
    if (outp[1] >= 0)
        close(outp[1]);
    if (errp[0] >= 0)
        close(errp[0]);
    if (errp[1] >= 0)
        close(errp[1]);
    if (execp[0] >= 0)
        close(execp[0]);
    if (execp[1] >= 0)
        close(execp[1]);
    free(path);
    return rc;
}
