# fish completion for remapctl(8).
# Install as /usr/share/fish/vendor_completions.d/remapctl.fish.

set -l actions format migrate create remove list status remap query stats monitor health scan activate deactivate

function __remapctl_names
    remapctl list 2>/dev/null | awk 'NR > 1 { print $1 }'
end

function __remapctl_remaptab_names
    awk '!/^[[:space:]]*(#|$)/ { print $1 }' /etc/remaptab 2>/dev/null
end

function __remapctl_block_devices
    lsblk -dpno NAME 2>/dev/null
end

complete -c remapctl -f
complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -s h -l help -d 'Print help and exit'
complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -s V -l version -d 'Print the version and exit'

complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -a format -d 'Write new dm-remap metadata to a spare device'
complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -a migrate -d 'Convert legacy v3 metadata on a spare to v4 in place'
complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -a create -d 'Activate a dm-remap device'
complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -a remove -d 'Deactivate a dm-remap device'
complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -a list -d 'List every dm-remap device'
complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -a status -d 'Show the state of a dm-remap device'
complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -a remap -d 'Move one unit to the spare now'
complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -a query -d 'Show whether a unit is remapped or pending'
complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -a stats -d 'Show the I/O counters'
complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -a monitor -d 'Follow devices and print each change of state'
complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -a health -d 'Grade the health of a device and project spare exhaustion'
complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -a scan -d 'Start, stop or show the background scan'
complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -a activate -d 'Activate remaptab entries'
complete -c remapctl -n "not __fish_seen_subcommand_from $actions" -a deactivate -d 'Deactivate remaptab entries'

complete -c remapctl -n "__fish_seen_subcommand_from $actions" -s h -l help -d 'Print the action\'s help'
complete -c remapctl -n "__fish_seen_subcommand_from format create remove list status remap query stats monitor health scan" -l json -d 'Print the result as JSON'

complete -c remapctl -n "__fish_seen_subcommand_from format migrate create" -l main -r -a '(__remapctl_block_devices)' -d 'The main device'
complete -c remapctl -n "__fish_seen_subcommand_from format migrate create" -l spare -r -a '(__remapctl_block_devices)' -d 'The spare device'
complete -c remapctl -n "__fish_seen_subcommand_from format" -l block-size -x -a '512 1024 2048 4096 8192 16384 32768 65536' -d 'Remap unit in bytes'
complete -c remapctl -n "__fish_seen_subcommand_from format" -l force -d 'Format even over a signature, erasing it'
complete -c remapctl -n "__fish_seen_subcommand_from format" -l batch -d 'Do not ask for confirmation'
complete -c remapctl -n "__fish_seen_subcommand_from migrate" -l spare-start -x -d 'First sector of the v3 spare area'
complete -c remapctl -n "__fish_seen_subcommand_from migrate" -l spare-len -x -d 'Sectors in the v3 spare area'
complete -c remapctl -n "__fish_seen_subcommand_from migrate" -l block-size -x -a '512 1024 2048 4096 8192 16384 32768 65536' -d 'Remap unit in bytes'
complete -c remapctl -n "__fish_seen_subcommand_from migrate" -l dry-run -d 'Print the plan and write nothing'
complete -c remapctl -n "__fish_seen_subcommand_from migrate" -l batch -d 'Do not ask for confirmation'
complete -c remapctl -n "__fish_seen_subcommand_from create" -l retries -x -d 'Retries before a remap (0-100)'
complete -c remapctl -n "__fish_seen_subcommand_from create" -l scan-rate -x -d 'Scan from the start at this many MiB/s'
complete -c remapctl -n "__fish_seen_subcommand_from create" -l slow-ms -x -d 'A scan read slower than this marks its unit weak'
complete -c remapctl -n "__fish_seen_subcommand_from health" -l spare -r -a '(__remapctl_block_devices)' -d 'A spare, read offline'
complete -c remapctl -n "__fish_seen_subcommand_from scan" -l rate -x -d 'With start: the rate in MiB/s'
complete -c remapctl -n "__fish_seen_subcommand_from scan; and not __fish_seen_subcommand_from start stop status" -a 'start stop status' -d 'Scan action'
complete -c remapctl -n "__fish_seen_subcommand_from remove" -l deferred -d 'Remove at the last close'
complete -c remapctl -n "__fish_seen_subcommand_from remove" -l force -d 'Fail all I/O, then remove at the last close'
complete -c remapctl -n "__fish_seen_subcommand_from status" -l format -x -a 'human json prometheus' -d 'Output format'
complete -c remapctl -n "__fish_seen_subcommand_from remap query" -l sector -x -d 'A 512-byte sector in the unit'
complete -c remapctl -n "__fish_seen_subcommand_from stats" -l clear -d 'Clear the counters after printing'
complete -c remapctl -n "__fish_seen_subcommand_from monitor" -l interval -x -d 'Milliseconds between status reads'
complete -c remapctl -n "__fish_seen_subcommand_from monitor" -l once -d 'Print the current state and exit'
complete -c remapctl -n "__fish_seen_subcommand_from remove status remap query stats monitor health" -a '(__remapctl_names)' -d 'dm-remap device'
complete -c remapctl -n "__fish_seen_subcommand_from scan; and __fish_seen_subcommand_from start stop status" -a '(__remapctl_names)' -d 'dm-remap device'
complete -c remapctl -n "__fish_seen_subcommand_from activate deactivate" -l all -d 'Every remaptab entry'
complete -c remapctl -n "__fish_seen_subcommand_from activate deactivate" -l remaptab -r -F -d 'Read FILE instead of /etc/remaptab'
complete -c remapctl -n "__fish_seen_subcommand_from activate" -l wait -x -d 'Seconds to wait for the devices'
complete -c remapctl -n "__fish_seen_subcommand_from activate deactivate" -a '(__remapctl_remaptab_names)' -d 'remaptab entry'
