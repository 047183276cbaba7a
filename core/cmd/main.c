/*
 * main.c — the samspor binary.  Everything is in the library (the command
 * layer, core/cmd/commands.c), so that tests link what the binary runs.
 */
#include "config.h"

#include "cmd/cmd.h"

int main(int argc, char **argv) {
  return sp_main(argc, argv);
}
