/*
 * Loads out_vigil.so the way Fluent Bit's Go proxy (src/proxy/go/go.c) does: dlopen, dlsym of
 * the FLBPlugin* entry points, registration through a struct flb_plugin_proxy_def, and
 * initialisation with a struct flbgo_output_plugin whose api->output_get_property answers the
 * [OUTPUT] section's properties. The struct layouts are fluent-bit-go's flb_plugin.h and
 * flb_output.h.
 *
 *   harness PLUGIN.so [key=value ...]
 *
 * then reads commands on stdin, one a line, answering on stdout:
 *   flush FILE TAG   -> "flush RC"  (FLBPluginFlushCtx with the msgpack chunk read from FILE)
 *   exit             -> "exit RC"   (FLBPluginExitCtx, then FLBPluginExit)
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct flb_plugin_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
};

struct flb_api {
    char *(*output_get_property)(char *, void *);
    char *_;
};

struct flb_plugin_proxy_context {
    void *remote_context;
};

struct flbgo_output_plugin {
    void *_;
    struct flb_api *api;
    void *o_ins; /* Fluent Bit's struct flb_output_instance: here the properties */
    struct flb_plugin_proxy_context *context;
};

struct properties {
    int n;
    char **keys;
    char **values;
};

/* Fluent Bit looks properties up without regard to case and answers NULL when unset. */
static char *get_property(char *key, void *o_ins)
{
    struct properties *p = o_ins;
    for (int i = 0; i < p->n; i++) {
        if (strcasecmp(p->keys[i], key) == 0) {
            return p->values[i];
        }
    }
    return NULL;
}

static void *must(void *lib, const char *sym)
{
    void *f = dlsym(lib, sym);
    if (f == NULL) {
        fprintf(stderr, "harness: %s: %s\n", sym, dlerror());
        exit(2);
    }
    return f;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: harness PLUGIN.so [key=value ...]\n");
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "harness: dlopen: %s\n", dlerror());
        return 2;
    }
    int (*reg)(void *) = must(lib, "FLBPluginRegister");
    int (*init)(void *) = must(lib, "FLBPluginInit");
    int (*flush_ctx)(void *, void *, int, char *) = must(lib, "FLBPluginFlushCtx");
    int (*exit_ctx)(void *) = must(lib, "FLBPluginExitCtx");
    int (*exit_all)(void) = must(lib, "FLBPluginExit");

    struct flb_plugin_proxy_def def = {0};
    int rc = reg(&def);
    printf("register %d type=%d proxy=%d name=%s\n", rc, def.type, def.proxy, def.name ? def.name : "");
    fflush(stdout);

    struct properties props = {0, calloc(argc, sizeof(char *)), calloc(argc, sizeof(char *))};
    for (int i = 2; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq == NULL) {
            continue;
        }
        *eq = '\0';
        props.keys[props.n] = argv[i];
        props.values[props.n] = eq + 1;
        props.n++;
    }
    struct flb_api api = {get_property, NULL};
    struct flb_plugin_proxy_context ctx = {NULL};
    struct flbgo_output_plugin plugin = {NULL, &api, &props, &ctx};
    rc = init(&plugin);
    printf("init %d\n", rc);
    fflush(stdout);

    char line[4096];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        char file[2048], tag[1024];
        if (sscanf(line, "flush %2047s %1023s", file, tag) == 2) {
            FILE *f = fopen(file, "rb");
            if (f == NULL) {
                printf("flush -1\n");
                fflush(stdout);
                continue;
            }
            fseek(f, 0, SEEK_END);
            long size = ftell(f);
            fseek(f, 0, SEEK_SET);
            char *buf = malloc(size > 0 ? size : 1);
            size_t got = fread(buf, 1, size, f);
            fclose(f);
            rc = flush_ctx(ctx.remote_context, buf, (int)got, tag);
            free(buf);
            printf("flush %d\n", rc);
            fflush(stdout);
        } else if (strncmp(line, "exit", 4) == 0) {
            rc = exit_ctx(ctx.remote_context);
            int rc2 = exit_all();
            printf("exit %d %d\n", rc, rc2);
            fflush(stdout);
            return 0;
        }
    }
    return 0;
}
