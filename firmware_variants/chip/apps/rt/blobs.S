/* closebench app runner: the app's script and the request, included from files named at build
 * time (APP_SCRIPT, APP_REQUEST), each followed by its end label. */
    .section .rodata
    .global app_script, app_script_end, app_request, app_request_end
    .align 4
app_script:
    .incbin APP_SCRIPT
app_script_end:
    .byte 0
    .align 4
app_request:
    .incbin APP_REQUEST
app_request_end:
    .byte 0
