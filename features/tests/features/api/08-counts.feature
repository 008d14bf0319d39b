Feature: Counting stock (admin override)

  Background:
    Given the retail estate

  @api-8
  Scenario: A count is echoed with the key location
    When I send POST /locations/WH01/products/SKU12345/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":100,"countedAt":"2024-12-11T09:16:29.577617"}
      """
    Then the response is 201 with body:
      """
      {
        "requestId": "c1", "location": "WH01", "productId": "SKU12345",
        "quantity": 100.0, "reason": "AdminOverride", "countedAt": "2024-12-11T09:16:29.577617"
      }
      """
    And the stock of "SKU12345" at "WH01" is 100.0, last updated "2024-12-11T09:16:29.577617"

  @api-8 @api-9 @domain-7
  Scenario Outline: A count needs an existing location, not a tracked one, and is never redirected: <decoded>
    When I send POST /locations/<location>/products/SKU1/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":7,"countedAt":"2024-12-11T09:00:00"}
      """
    Then the response is 201 with body {"requestId":"c1","location":"<decoded>","productId":"SKU1","quantity":7.0,"reason":"AdminOverride","countedAt":"2024-12-11T09:00:00"}

    Examples:
      | location     | decoded      |
      | Till%201     | Till 1       |
      | Untracked-1  | Untracked-1  |
      | Kiosk%207    | Kiosk 7      |
      | London       | London       |

  @api-8
  Scenario: A count at an unknown location is not found
    When I send POST /locations/Atlantis/products/SKU1/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":7,"countedAt":"2024-12-11T09:00:00"}
      """
    Then the response is 404 with body {"status":"LocationNotFound"}

  @api-8
  Scenario Outline: A count's missing fields, bad date-time and bad body are the three 400 shapes: <answer>
    When I send POST /locations/WH01/products/SKU1/counts with:
      """
      <body>
      """
    Then the response is 400 with body <answer>

    Examples:
      | body                                                                                     | answer                                   |
      | {"quantity":7}                                                                           | {"missingFields":["requestId","reason","countedAt"]} |
      | {"requestId":"c1","reason":"AdminOverride","quantity":7,"countedAt":"2024-12-11"}        | {"invalidValues":["countedAt"]}          |
      | {"requestId":"c1","reason":"AdminOverride","quantity":7,"countedAt":"2024-12-11T09:00","by":"me"} | {"status":"BadRequest"}        |

  @api-8 @domain-7
  Scenario: A count may set a negative quantity
    When I send POST /locations/WH01/products/SKU1/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":-4,"countedAt":"2024-12-11T09:00:00"}
      """
    Then the response is 201 with body {"requestId":"c1","location":"WH01","productId":"SKU1","quantity":-4.0,"reason":"AdminOverride","countedAt":"2024-12-11T09:00:00"}
    And the stock of "SKU1" at "WH01" is -4.0, last updated "2024-12-11T09:00:00"
