"""Registers the messaging service in Keystone with its endpoint at argv[1] (the server)."""
import sys
import json, urllib.request
KS=sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:5055/v3"
def call(m, p, body=None, tok=None):
    h={"Content-Type":"application/json"}
    if tok: h["X-Auth-Token"]=tok
    r=urllib.request.urlopen(urllib.request.Request(KS+p, json.dumps(body).encode() if body else None, h, method=m))
    return r.headers, (json.load(r) if r.status!=204 else None)
b={"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"admin-pw"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}
h,_=call("POST","/auth/tokens",b); tok=h["X-Subject-Token"]
svcs=call("GET","/services",tok=tok)[1]["services"]
s=[x for x in svcs if x["type"]=="messaging"]
sid = s[0]["id"] if s else call("POST","/services",{"service":{"type":"messaging","name":"zaqar"}},tok)[1]["service"]["id"]
for e in call("GET","/endpoints",tok=tok)[1]["endpoints"]:
    if e["service_id"]==sid: call("DELETE","/endpoints/"+e["id"],tok=tok)
for i in ["public","internal","admin"]:
    call("POST","/endpoints",{"endpoint":{"interface":i,"service_id":sid,"url":sys.argv[1],"region_id":"RegionOne"}},tok)
print("ok", sid)
