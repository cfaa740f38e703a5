"""Prints the Notify calls a dbusmock notification server recorded, one per line, fields
separated by tabs: app name, the id the server handed out, replaces-id, icon, summary, body
(newlines as \\n), urgency (0 low, 1 normal, 2 critical, - if none). The mock hands out 1, 2,
... to calls with replaces-id 0 and returns replaces-id otherwise; the second column follows
that rule, counting on from the optional argument: the last id handed out before the calls
were cleared."""
import sys

import dbus

bus = dbus.SessionBus()
mock = dbus.Interface(bus.get_object('org.freedesktop.Notifications', '/org/freedesktop/Notifications'),
                      'org.freedesktop.DBus.Mock')
next_id = int(sys.argv[1]) + 1 if len(sys.argv) > 1 else 1
for _, args in mock.GetMethodCalls('Notify'):
    app, replaces, icon, summary, body, _, hints, _ = args
    if replaces:
        given = int(replaces)
    else:
        given, next_id = next_id, next_id + 1
    urgency = int(hints['urgency']) if 'urgency' in hints else '-'
    print('\t'.join(str(f) for f in (app, given, int(replaces), icon, summary,
                                      body.replace('\n', '\\n'), urgency)))
