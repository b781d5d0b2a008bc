#!/usr/bin/env python3
"""Writes a year (2026) of store activity as `storeflow simulate` input lines.

Usage: scripts/gen-year-events.py [CUSTOMERS] [--shape events|shopify] > year.jsonl

--shape events (default) writes normalized event lines. --shape shopify writes
the same activity as a Shopify store delivers it: webhook deliveries built from
the samples under events/shopify/ (customers/create, the email consent topic,
checkouts/create, orders/create, fulfillment_events/create) and storefront
tracking in Segment's shape (Product Viewed, Product Added), so simulate runs
the ingest normalization too.
Deterministic (fixed seed): the same arguments give the same file.
"""
import argparse
import copy
import datetime
import json
import os
import random
import uuid

ap = argparse.ArgumentParser()
ap.add_argument("customers", nargs="?", type=int, default=2000)
ap.add_argument("--shape", choices=["events", "shopify"], default="events")
args = ap.parse_args()
customers = args.customers
random.seed(7)
items = [
    {"product_id": "linen-shirt", "title": "Linen shirt", "quantity": 1, "price": 65.0},
    {"product_id": "coffee-beans-1kg", "title": "Beans", "quantity": 1, "price": 24.0},
]
start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
events = []
for c in range(customers):
    email = f"c{c}@example.com"
    t = start + datetime.timedelta(minutes=random.randint(0, 60 * 24 * 300))
    country = random.choice(["US", "GB", "FR", "JP", "AU", "DE", "CA", "BR"])
    birthday = f"{random.randint(1, 12):02d}-{random.randint(1, 28):02d}"
    events.append((t, "customer_created", email, {"first_name": "C", "country": country, "birthday": birthday}))
    if random.random() < 0.7:
        events.append((t, "consent_changed", email, {"channel": "email", "status": "subscribed"}))
    for s in range(random.randint(3, 40)):
        t = t + datetime.timedelta(hours=random.randint(1, 24 * 20))
        if t.year > 2026:
            break
        r = random.random()
        if r < 0.5:
            events.append((t, "product_viewed", email, {"product_id": "linen-shirt", "title": "Linen shirt"}))
        elif r < 0.7:
            events.append((t, "added_to_cart", email, {"line_items": items}))
        elif r < 0.85:
            ck = f"ck{c}-{s}"
            events.append((t, "checkout_started", email, {"checkout_id": ck, "line_items": items, "total": 89.0}))
            if random.random() < 0.5:
                order = {"order_id": f"o{c}-{s}", "checkout_id": ck, "line_items": items, "total": 89.0}
                events.append((t + datetime.timedelta(minutes=20), "order_placed", email, order))
        else:
            events.append((t, "order_placed", email, {"order_id": f"p{c}-{s}", "line_items": items, "total": 89.0}))
            delivered = {"order_id": f"p{c}-{s}", "status": "delivered"}
            events.append((t + datetime.timedelta(days=3), "shipment_updated", email, delivered))
events.sort(key=lambda e: e[0])


def shopify_lines():
    """The same activity as Shopify webhooks and Segment tracking calls."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "events")
    sample = lambda d, n: json.load(open(os.path.join(root, d, n + ".json")))
    cust0 = sample("shopify", "customers_create")
    consent0 = sample("shopify", "customers_email_marketing_consent_update")
    checkout0 = sample("shopify", "checkouts_create")
    order0 = sample("shopify", "orders_create")
    fevent0 = sample("shopify", "fulfillment_events_create")
    viewed0 = sample("segment", "track_product_viewed")
    added0 = sample("segment", "track_product_added")
    domain = "northwind.myshopify.com"
    customer_id = lambda email: 7390183000000000000 + int(email[1:].split("@")[0])
    order_ids = {}
    for i, (t, kind, email, props) in enumerate(events):
        at = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        cid = customer_id(email)
        who = {"id": cid, "email": email}
        topic, body = None, None
        if kind == "customer_created":
            topic, body = "customers/create", copy.deepcopy(cust0)
            body.update(id=cid, email=email, phone=None, created_at=at, updated_at=at,
                        first_name=props["first_name"], last_name=f"N{cid % 1000}",
                        admin_graphql_api_id=f"gid://shopify/Customer/{cid}")
            body["email_marketing_consent"] = {"state": "not_subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": None}
            for a in body["addresses"] + [body["default_address"]]:
                a.update(customer_id=cid, country_code=props["country"], province_code=None, phone=None)
        elif kind == "consent_changed":
            topic, body = "customers_email_marketing_consent/update", copy.deepcopy(consent0)
            body.update(customer_id=cid, email_address=email)
            body["email_marketing_consent"]["consent_updated_at"] = at
        elif kind in ("product_viewed", "added_to_cart"):
            topic, body = "track", copy.deepcopy(viewed0 if kind == "product_viewed" else added0)
            body.update(messageId=str(uuid.UUID(int=i)), timestamp=at, sentAt=at, userId=str(cid))
            body.pop("anonymousId", None)
            body["context"]["traits"] = {"email": email}
        elif kind == "checkout_started":
            topic, body = "checkouts/create", copy.deepcopy(checkout0)
            # The sample's cart token would make every checkout one cart,
            # so one visitor: each checkout has its own cart.
            body.update(id=35810000000000 + i, token=props["checkout_id"], email=email,
                        created_at=at, updated_at=at, customer=who,
                        cart_token=f"cart-{props['checkout_id']}")
        elif kind == "order_placed":
            oid = 6120000000000000000 + i
            order_ids[props["order_id"]] = oid
            topic, body = "orders/create", copy.deepcopy(order0)
            body.update(id=oid, name=f"#{1000 + i}", order_number=1000 + i, email=email,
                        contact_email=email, created_at=at, updated_at=at, processed_at=at,
                        checkout_token=props.get("checkout_id"), customer=who,
                        admin_graphql_api_id=f"gid://shopify/Order/{oid}")
        elif kind == "shipment_updated":
            topic, body = "fulfillment_events/create", copy.deepcopy(fevent0)
            body.update(id=9120000000 + i, status="delivered", message="Delivered",
                        happened_at=at, created_at=at, updated_at=at,
                        estimated_delivery_at=None, order_id=order_ids[props["order_id"]])
        if topic == "track":
            line = {"at": at, "source": "segment", "topic": "track", "headers": {}, "body": body}
        else:
            headers = {"X-Shopify-Shop-Domain": domain,
                       "X-Shopify-Webhook-Id": str(uuid.UUID(int=(1 << 64) + i)),
                       "X-Shopify-Triggered-At": at.replace("Z", ".000000Z")}
            line = {"at": at, "source": "shopify", "topic": topic, "headers": headers, "body": body}
        print(json.dumps(line))


if args.shape == "shopify":
    shopify_lines()
    raise SystemExit
for i, (t, kind, email, props) in enumerate(events):
    at = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {"id": f"y{i}", "shop": "s", "type": kind, "occurred_at": at, "customer": {"email": email}, "properties": props}
    print(json.dumps({"at": at, "event": event}))
