// closebench: qstrs of the stub modules are found in their sources.
