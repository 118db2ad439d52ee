/* closebench: lobject.c includes NodeMCU's flash API for one helper, byte_of_aligned_array
 * (app/platform/flash_api.c: a byte of a flash-mapped table read through an aligned 32-bit
 * load, the only access the chip's flash mapping allows). The rest of the API is not built. */
#ifndef CB_FLASH_API_H
#define CB_FLASH_API_H
#include <stdint.h>
#include "user_config.h"
uint8_t byte_of_aligned_array(const uint8_t *aligned_array, uint32_t index);
#endif
