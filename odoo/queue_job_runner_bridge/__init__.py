from . import controllers


def post_load():
    from . import db_routing

    db_routing.install()
