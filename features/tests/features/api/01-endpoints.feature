Feature: Endpoints and routing
  The Stock API serves five protected stock endpoints and four public probes. Anything else is
  answered by the router alone, with an empty body.

  Background:
    Given the retail estate

  @api-1
  Scenario Outline: An unknown path is not found, with an empty body <method> <path>
    When I send <method> <path>
    Then the response is 404 with an empty body

    Examples:
      | method | path                                        |
      | GET    | /stock                                      |
      | GET    | /locations/WH01                             |
      | GET    | /locations/WH01/products                    |
      | POST   | /locations/WH01/products/p1/movements       |
      | GET    | /admin/pots                                 |
      | POST   | /admin/locations/WH01/reset                 |
      | GET    | /health                                     |

  @api-1
  Scenario Outline: A known path with another method is not allowed, with an empty body: <method> <path>
    When I send <method> <path>
    Then the response is 405 with an empty body

    Examples:
      | method | path                                   |
      | POST   | /locations/WH01/products/p1            |
      | DELETE | /locations/WH01/products/p1            |
      | GET    | /locations/WH01/products/p1/sales      |
      | PUT    | /locations/WH01/products/p1/sales      |
      | GET    | /locations/WH01/deliveries             |
      | DELETE | /locations/WH01/deliveries             |
      | GET    | /locations/WH01/p1/movements           |
      | PATCH  | /locations/WH01/products/p1/counts     |
      | POST   | /health/live                           |
      | POST   | /health/ready                          |
      | POST   | /health/started                        |
      | POST   | /metrics                               |

  @api-1
  Scenario: The movement path has no products segment
    Given "WH01" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"store3","quantity":1,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response status is 201

  @api-1
  Scenario: Location and product ids with spaces travel percent-encoded and are decoded
    When I send POST /locations/Central%20Store/products/Olive%20Oil/sales with:
      """
      {"requestId":"r1","quantity":2,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 201 with body {"requestId":"r1","locationId":"Central Store","productId":"Olive Oil","quantitySold":2.0,"soldAt":"2024-12-07T12:00:00"}
    And the stock of "Olive Oil" at "Central Store" is 0.0, pending -2.0, last updated "2024-12-07T12:00:00"

  @api-1
  Scenario: Identifiers are case-sensitive
    When I send GET /locations/wh01/products/p1
    Then the response is 404 with body {"status":"LocationNotFound"}

  @api-1
  Scenario: Any non-empty segment is a product, never validated
    When I send GET /locations/WH01/products/never-heard-of-it?includeChildren=false
    Then the response is 200 with a body like:
      """
      {"locationId":"WH01","productId":"never-heard-of-it","quantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00"}
      """

  @api-1
  Scenario Outline: Answers carry no caching, trace-context or authentication challenge headers: <status>
    Given <who>
    When I send GET /locations/WH01/products/p1
    Then the response status is <status>
    And the response has no caching, trace-context or authentication challenge headers
    And the response has no "Cache-Control" header
    And the response has no "ETag" header
    And the response has no "traceparent" header
    And the response has no "tracestate" header
    And the response has no "WWW-Authenticate" header

    Examples:
      | who                               | status |
      | I am a Warehouse Manager          | 200    |
      | I send no Authorization header    | 401    |
      | I am a Read Only User             | 403    |

  @api-1
  Scenario: A traceparent sent by the client is not echoed
    Given my requests carry the header "traceparent" with value "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    When I send GET /locations/WH01/products/p1
    Then the response status is 200
    And the response has no "traceparent" header

  @api-1 @api-5
  Scenario: A write answer carries no custom headers
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response status is 201
    And the response has no caching, trace-context or authentication challenge headers
    And the response has no "Location" header
    And the response has no "Retry-After" header
