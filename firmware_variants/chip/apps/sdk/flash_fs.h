/* closebench: NodeMCU's SPIFFS layer is not built; the app's script is loaded from memory
 * (luaL_loadbuffer), so every file open here fails as on an empty file system. */
#ifndef CB_FLASH_FS_H
#define CB_FLASH_FS_H
#include "user_config.h"
#define FS_OPEN_OK 1
#define FS_RDONLY 1
#define FS_WRONLY 2
#define FS_RDWR 3
#define FS_NAME_MAX_LENGTH 32
int fs_open(const char *name, int flags);
int fs_close(int fd);
int fs_read(int fd, void *buf, int len);
int fs_eof(int fd);
int fs_getc(int fd);
int fs_ungetc(int c, int fd);
int fs_mode2flag(const char *mode);
#endif
