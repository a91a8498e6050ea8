"""The receive side, one role per module (docs/architecture.md, "Receiving, by role").

* ``options``   ReceiveOptions and the event families (which stream carries what);
* ``ledger``    commit ledgers (acknowledged prefix per stream) and the committer that
                writes cursors to the state store in batches;
* ``reader``    one resumable stream of one line and family (catch-up, live, reconnect);
* ``engine``    the client's one receive engine: readers for every line, the bounded queue,
                dedupe, the stall watchdog and health;
* ``health``    what ``client.health()`` reports;
* ``inbox``     the generator front end (``client.messages()`` / ``events()``);
* ``dispatch``  the callback front end (``on_message`` + ``run_forever()`` / ``start()``);
* ``receiving`` the client's component that owns the engine and admits one consumer.
"""
