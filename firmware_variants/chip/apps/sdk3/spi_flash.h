/* closebench: the SDK's spi_flash.h result type (platform headers name it; no flash here). */
#ifndef CB_SPI_FLASH_H
#define CB_SPI_FLASH_H
#include "c_types.h"
typedef enum { SPI_FLASH_RESULT_OK, SPI_FLASH_RESULT_ERR, SPI_FLASH_RESULT_TIMEOUT } SpiFlashOpResult;
#define SPI_FLASH_SEC_SIZE 4096
#endif
